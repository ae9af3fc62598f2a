#!/usr/bin/env python3
"""Writes a multipart/form-data body for POST /photos: make_upload_body.py IMAGE CSRF OUT BOUNDARY

Also imported by bench/soak.py for `upload_body`."""
import sys


def upload_body(boundary, csrf, caption, filename, content_type, data):
    """The upload form's body, token first (the server refuses a photo before its token)."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\n{caption}\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    return b"".join(parts)


if __name__ == "__main__":
    image, csrf, out, boundary = sys.argv[1:5]
    with open(image, "rb") as f:
        data = f.read()
    with open(out, "wb") as f:
        f.write(upload_body(boundary, csrf, "bench upload", "bench.jpg", "image/jpeg", data))
