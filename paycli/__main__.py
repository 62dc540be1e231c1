"""`python -m paycli` runs the CLI."""

from paycli.cli.app import main

if __name__ == "__main__":
    main()
