"""Payment rules and data operations, free of Lambda and HTTP concerns."""
