"""Speed, request plumbing and SQS: per-request work that changes nothing a client receives.

Of about 1.7 ms per in-process GetItem (cProfile over 1,000 calls), the backend's own work is
under 0.2 ms; the rest is plumbing. `apply(speed=False)` leaves these off.
"""

# ruff: noqa: PLC0415 - each patch imports the module it changes next to the change
from __future__ import annotations

import functools
import importlib
import io
import string
import threading
import time
from functools import wraps
from typing import Any

from paycli.local.patches._base import Patch, Patcher, Purpose, Saving


def _install_method_names_cache(patcher: Patcher) -> None:
    """A class's methods do not change at run time, so the list is computed once per class."""
    # Imported by name into moto.core.responses, the only caller (verified in 5.2.5).
    responses: Any = importlib.import_module("moto.core.responses")
    cached = functools.cache(responses.method_names_from_class)
    patcher.set(responses, "method_names_from_class", cached)


METHOD_NAMES_CACHE = Patch(
    name="method_names_cache",
    purpose=Purpose.SPEED,
    fixes="BaseResponse.call_action lists the handler class's methods with inspect.getmembers "
    "on every request (about 0.3 ms) to check that the action exists.",
    targets={
        "moto.core.responses:method_names_from_class": "900ad2c498614d67",
        "moto.core.responses:BaseResponse.call_action": "d3196be30903803f",
    },
    install=_install_method_names_cache,
    saves=Saving("dynamodb.GetItem", 0.844, 0.597),
)


def _install_request_ids(patcher: Patcher) -> None:
    """random.choices draws the same alphabet in one call, from moto's own (seedable)
    generator."""
    from moto.moto_api._internal.moto_random import MotoRandom

    def get_random_string(
        self: Any, length: int = 20, include_digits: bool = True, lower_case: bool = False
    ) -> str:
        pool = string.ascii_letters + (string.digits if include_digits else "")
        text = "".join(self.choices(pool, k=length))
        return text.lower() if lower_case else text

    patcher.set(MotoRandom, "get_random_string", get_random_string)


REQUEST_IDS = Patch(
    name="request_ids",
    purpose=Purpose.SPEED,
    fixes="Every response gets a 52-character request id built with one random.choice call "
    "per character (about 0.15 ms).",
    targets={
        "moto.moto_api._internal.moto_random:MotoRandom.get_random_string": "e559115894935ec0"
    },
    install=_install_request_ids,
    saves=Saving("dynamodb.GetItem", 0.629, 0.581),
)

_UNCOMPUTED_SIGNATURE = "0" * 64


@functools.lru_cache(maxsize=256)
def _host_answered_in_process(scheme_and_host: str) -> bool:
    from moto.core.config import passthrough_url

    host = scheme_and_host.partition("://")[2]
    return host.endswith(".amazonaws.com") and not passthrough_url(scheme_and_host + "/")


def _answered_in_process(url: str) -> bool:
    """moto's stubber answers every *.amazonaws.com URL (404 for services it lacks) unless a
    passthrough is configured; other hosts go to the network."""
    scheme, _, rest = url.partition("://")
    return _host_answered_in_process(f"{scheme}://{rest.split('/', 1)[0]}")


def _install_in_process_signing(patcher: Patcher) -> None:
    """A request that moto's in-process stubber answers never leaves the process and moto
    checks no signature; it reads only the access key and region from the Authorization
    header. Such requests get that header with the real credential scope and no signature.
    Requests to any other host (the local API, moto's HTTP server, real AWS), presigned URLs
    and unsigned clients are signed by botocore as before, so SigV4 verification of the local
    API (paycli/local/sigv4.py, which uses SigV4Auth directly) is unaffected."""
    from botocore import UNSIGNED
    from botocore.signers import RequestSigner
    from moto.core.models import botocore_stubber

    sign = RequestSigner.sign

    @wraps(sign)
    def in_process_sign(  # noqa: PLR0917 - botocore's signature
        self: Any,
        operation_name: str,
        request: Any,
        region_name: str | None = None,
        signing_type: str = "standard",
        expires_in: int | None = None,
        signing_name: str | None = None,
    ) -> None:
        if (
            signing_type != "standard"
            or not botocore_stubber.enabled
            or self._credentials is None
            or self._signature_version is UNSIGNED
            or not _answered_in_process(request.url)
        ):
            return sign(
                self, operation_name, request, region_name, signing_type, expires_in, signing_name
            )
        credentials = self._credentials.get_frozen_credentials()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        scope = (
            f"{credentials.access_key}/{stamp[:8]}/{region_name or self._region_name}/"
            f"{signing_name or self._signing_name}/aws4_request"
        )
        headers = request.headers
        headers["X-Amz-Date"] = stamp
        if credentials.token:
            headers["X-Amz-Security-Token"] = credentials.token
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, "
            f"Signature={_UNCOMPUTED_SIGNATURE}"
        )
        return None

    patcher.set(RequestSigner, "sign", in_process_sign)


IN_PROCESS_SIGNING = Patch(
    name="in_process_signing",
    purpose=Purpose.SPEED,
    fixes="botocore signs every request with SigV4 (about 0.5 ms: canonical request, four "
    "HMACs), also those moto answers in process without checking the signature.",
    targets={
        "botocore.signers:RequestSigner.sign": "1894983fab25b67b",
        "moto.core.config:passthrough_url": "88d681bcdbd1b306",
        "moto.core.botocore_stubber:BotocoreStubber.__call__": "43699b9da82c5e48",
    },
    install=_install_in_process_signing,
    saves=Saving("dynamodb.GetItem", 0.722, 0.542),
)


def _install_sqs_retention_check(patcher: Patcher) -> None:
    """Same check, with the retention period read directly."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(
        self: Any, queue_name: str, message: Any
    ) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > unix_time())

    patcher.set(
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        is_message_valid_based_on_retention_period,
    )


SQS_RETENTION_CHECK = Patch(
    name="sqs_retention_check",
    purpose=Purpose.SPEED,
    fixes="ReceiveMessage checks each returned message's retention through "
    "get_queue_attributes, which rebuilds every attribute including "
    "ApproximateNumberOfMessages (a walk over the queue): 180 ms per receive with 200 "
    "messages queued, quadratic in the backlog (a DLQ, a burst).",
    targets={
        "moto.sqs.models:SQSBackend.is_message_valid_based_on_retention_period": "a42a035035be7b97",
    },
    install=_install_sqs_retention_check,
    saves=Saving("sqs.ReceiveMessage(200 queued)", 107.483, 4.873),
)

_skip_message_counts = threading.local()
_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _install_sqs_send_attributes(patcher: Patcher) -> None:
    """During send_message the counts (unused there) are skipped; everywhere else they are
    computed as before."""
    from moto.sqs.models import Queue, SQSBackend

    for prop in _COUNTS:
        counted = getattr(Queue, prop)

        def skipped(self: Any, _counted: Any = counted) -> int:
            if getattr(_skip_message_counts, "active", False):
                return 0
            return int(_counted.fget(self))

        patcher.set(Queue, prop, property(skipped))

    original = SQSBackend.send_message

    @wraps(original)
    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        _skip_message_counts.active = True
        try:
            return original(self, *args, **kwargs)
        finally:
            _skip_message_counts.active = False

    patcher.set(SQSBackend, "send_message", send_message)


SQS_SEND_ATTRIBUTES = Patch(
    name="sqs_send_attributes",
    purpose=Purpose.SPEED,
    fixes="SendMessage reads queue.attributes for one flag, which rebuilds every attribute "
    "including the three ApproximateNumberOfMessages* counts (walks over the queue): 3.6 ms "
    "per send with 200 queued, growing with the backlog.",
    targets={
        "moto.sqs.models:SQSBackend.send_message": "290ee658970a53ac",
        "moto.sqs.models:Queue.attributes": "951e0233f6a35cb2",
        "moto.sqs.models:Queue.approximate_number_of_messages": "2908e85004bfe39b",
        "moto.sqs.models:Queue.approximate_number_of_messages_delayed": "4d9ad2a8d8a7c34a",
        "moto.sqs.models:Queue.approximate_number_of_messages_not_visible": "b29b1f644ece419a",
    },
    install=_install_sqs_send_attributes,
    saves=Saving("sqs.SendMessage", 10.837, 1.281),
)


def _message_counts(queue: Any, now: float) -> dict[str, int]:
    """The three ApproximateNumberOfMessages* counts as Message.visible and .delayed define
    them, in one pass with the clock read once (they read it once per message each)."""
    visible = delayed = not_visible = 0
    for message in queue._messages:
        if now > message.visible_at:
            if now < message.delayed_until:
                delayed += 1
            else:
                visible += 1
        else:
            not_visible += 1
            delayed += now < message.delayed_until
    return {
        "ApproximateNumberOfMessages": visible,
        "ApproximateNumberOfMessagesDelayed": delayed,
        "ApproximateNumberOfMessagesNotVisible": not_visible,
    }


def _install_sqs_queue_attributes(patcher: Patcher) -> None:
    """GetQueueAttributes builds the queue's attributes once, without the counts, and adds the
    counts from one pass; it answers as before (same validation, same names, same values)."""
    from moto.core.utils import unix_time_millis
    from moto.sqs.exceptions import InvalidAttributeName
    from moto.sqs.models import SQSBackend

    def get_queue_attributes(
        self: Any, queue_name: str, attribute_names: list[str]
    ) -> dict[str, Any]:
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid = ["All", *queue.BASE_ATTRIBUTES, *queue.FIFO_ATTRIBUTES, *queue.KMS_ATTRIBUTES]
        invalid_name = next((name for name in attribute_names if name not in valid), None)
        if invalid_name or invalid_name == "":
            raise InvalidAttributeName(invalid_name)
        skipping = getattr(_skip_message_counts, "active", False)
        _skip_message_counts.active = True  # the counts come next, from one pass
        try:
            attributes: dict[str, Any] = queue.attributes
        finally:
            _skip_message_counts.active = skipping
        attributes.update(_message_counts(queue, unix_time_millis()))
        if "All" in attribute_names:
            return attributes
        return {
            name: attributes[name] for name in attribute_names if attributes.get(name) is not None
        }

    patcher.set(SQSBackend, "get_queue_attributes", get_queue_attributes)


SQS_QUEUE_ATTRIBUTES = Patch(
    name="sqs_queue_attributes",
    purpose=Purpose.SPEED,
    fixes="GetQueueAttributes rebuilds every attribute, including the three counts (each a "
    "walk over the queue reading the clock per message), three times per name asked for: "
    "`paycli dlq redrive`'s read of a DLQ holding 1,000 messages (three names) took 0.76 s "
    "in process, 1.2-1.6 s in the daemon, before its move task could start.",
    targets={
        "moto.sqs.models:SQSBackend.get_queue_attributes": "512dab94a041b8b9",
        "moto.sqs.models:Queue.attributes": "951e0233f6a35cb2",
        "moto.sqs.models:Message.visible": "08e353e389af0359",
        "moto.sqs.models:Message.delayed": "dfdbb681863b1bc5",
    },
    install=_install_sqs_queue_attributes,
    saves=Saving("sqs.GetQueueAttributes(200 queued)", 40.518, 0.995),
)


#: How many (method, URL, header names) shapes request_environ_cache keeps; others take moto's
#: path. A stack makes a few dozen (each client and operation, each function's invoke URL).
ENVIRON_TEMPLATES = 1024
_UNCACHEABLE = object()


def _environ_template(environ: dict[str, Any], header_items: list[tuple[str, str]]) -> Any:
    """A built environ (every key in werkzeug's order, which its headers' order follows) and
    the key each header's value goes to; _UNCACHEABLE when werkzeug did more than copy each
    value (two names folded into one key, a value changed)."""
    keys: list[str | None] = []
    for name, value in header_items:
        lowered = name.lower()
        if lowered == "content-length":  # the environ's comes from the body itself
            keys.append(None)
            continue
        key = (
            "CONTENT_TYPE"
            if lowered == "content-type"
            else ("HTTP_" + name.upper().replace("-", "_"))
        )
        if key in keys or environ.get(key) != value:
            return _UNCACHEABLE
        keys.append(key)
    base = {key: value for key, value in environ.items() if key != "werkzeug.request"}
    return base, tuple(keys)


def _install_request_environ_cache(patcher: Patcher) -> None:
    """The first request of each shape (method, URL, header names in order) is built by moto
    and werkzeug as before and its environ kept; later requests of that shape get a copy (in
    the same key order) with their own body, length and header values in place. Requests
    without a bytes body, and shapes werkzeug changes a value for, always take moto's path."""
    from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request

    build = vars(Request)["from_primitives"].__func__
    templates: dict[tuple[str, str, tuple[str, ...]], Any] = {}

    def from_primitives(cls: Any, method: str, url: str, headers: Any, body: Any = None) -> Any:
        if cls is not Request or type(body) is not bytes or not body:
            return build(cls, method, url, headers, body)
        items = [
            (key, value.decode("utf-8") if isinstance(value, bytes) else value)
            for key, value in headers.items()
            if key.lower() not in ["transfer-encoding"]
        ]
        shape = (method, url, tuple(key for key, _ in items))
        template = templates.get(shape)
        if template is None or template is _UNCACHEABLE:
            request = build(cls, method, url, headers, body)
            if template is None and len(templates) < ENVIRON_TEMPLATES:
                templates[shape] = _environ_template(request.environ, items)
            return request
        base, keys = template
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = dict(base[PRESERVED_HEADER_NAMES_ENVIRON_KEY])
        for key, (_, value) in zip(keys, items, strict=True):
            if key is not None:
                environ[key] = value
        return cls(environ)

    patcher.set(Request, "from_primitives", classmethod(from_primitives))


REQUEST_ENVIRON_CACHE = Patch(
    name="request_environ_cache",
    purpose=Purpose.SPEED,
    fixes="moto turns every in-process request into a werkzeug Request through "
    "EnvironBuilder (URL, server name and port, script root, path and query decoding, header "
    "folding): about 50 us a request on an idle machine, 12% of an in-process GetItem; all of "
    "it is the same for every request to one URL with the same header names except the "
    "header values and the body.",
    targets={
        "moto.core.request:Request.from_primitives": "91c3acdb102a9d36",
        "moto.core.request:Request.__init__": "bca62b7bea119b47",
        "werkzeug.wrappers.request:Request.from_values": "0a9669e37c6824db",
        "werkzeug.test:EnvironBuilder.get_environ": "8ddfc54fb8578761",
        "werkzeug.test:EnvironBuilder.__init__": "d743d552e181f9ed",
    },
    install=_install_request_environ_cache,
    saves=Saving("dynamodb.GetItem", 1.012, 0.892, calls=2000, rounds=3),
)

PATCHES = (
    METHOD_NAMES_CACHE,
    REQUEST_IDS,
    IN_PROCESS_SIGNING,
    SQS_RETENTION_CHECK,
    SQS_SEND_ATTRIBUTES,
    SQS_QUEUE_ATTRIBUTES,
    REQUEST_ENVIRON_CACHE,
)
