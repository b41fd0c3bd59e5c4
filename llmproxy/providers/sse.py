"""Reading Server-Sent Events (the format of every streaming LLM API) from a byte stream."""

from collections.abc import Iterable, Iterator


def sse_data(chunks: Iterable[bytes]) -> Iterator[str]:
    """The `data` of each event, multi-line data joined by newlines; other fields ignored."""
    buffer = b""
    data: list[str] = []
    for chunk in chunks:
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if not line:
                if data:
                    yield "\n".join(data)
                    data = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data.append((value[1:] if value.startswith(b" ") else value).decode())
    if buffer.startswith(b"data:"):
        data.append(buffer[5:].strip().decode())
    if data:
        yield "\n".join(data)
