#!/usr/bin/env python3
"""Writes a multipart/form-data body for POST /photos: make_upload_body.py IMAGE CSRF OUT BOUNDARY"""
import sys

image, csrf, out, boundary = sys.argv[1:5]
with open(image, "rb") as f:
    data = f.read()
parts = [
    f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'.encode(),
    f'--{boundary}\r\nContent-Disposition: form-data; name="caption"\r\n\r\nbench upload\r\n'.encode(),
    f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="bench.jpg"\r\n'
    f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n",
    f"--{boundary}--\r\n".encode(),
]
with open(out, "wb") as f:
    f.write(b"".join(parts))
