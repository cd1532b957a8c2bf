"""Zips a Lambda bootstrap as Lambda expects it (deflate) and records both sizes as JSON.

Usage: artifact-size.py BOOTSTRAP OUT.json
"""
import json
import os
import sys
import zipfile

bootstrap, out = sys.argv[1], sys.argv[2]
zip_path = os.path.join(os.path.dirname(bootstrap), "bootstrap.zip")
with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(bootstrap, "bootstrap")
sizes = {"bootstrap_bytes": os.path.getsize(bootstrap), "zip_bytes": os.path.getsize(zip_path)}
os.makedirs(os.path.dirname(out), exist_ok=True)
with open(out, "w") as f:
    json.dump(sizes, f, indent=1)
print(f"arm64 bootstrap {sizes['bootstrap_bytes']} bytes, zip {sizes['zip_bytes']} bytes")
