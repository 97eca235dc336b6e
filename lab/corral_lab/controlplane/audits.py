"""Client-side audits of the control-plane lab (placeholder: filled in below)."""
TOKEN_ONCE = '''\
import json, sys, urllib.request
vip, pw = sys.argv[1], sys.argv[2]
body = json.dumps({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
       "domain": {"id": "default"}, "password": pw}}}, "scope": {"project": {"name": "admin",
       "domain": {"id": "default"}}}}}).encode()
req = urllib.request.Request(f"http://{vip}:5000/v3/auth/tokens", data=body,
                             headers={"Content-Type": "application/json"})
r = urllib.request.urlopen(req, timeout=3)
sys.exit(0 if r.status == 201 and r.headers.get("X-Subject-Token") else 1)
'''
