"""Helpers of tests/aws_stack.py: the template as CloudFormation would evaluate it, the template as
moto can take it, a moto server on a free port, and a sandbox in which user-data scripts run."""

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from cfnlint.decode import decode


ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "aws" / "stratus.yaml"
PACKER = ROOT / "deploy" / "aws" / "stratus.pkr.hcl"
CLOUD_INIT = ROOT / "deploy" / "cloud-init.yaml"
REGION = "eu-west-1"

# Resource types in the template that moto's CloudFormation does not create (moto 5.2).
MOTO_UNMODELED = {
    "AWS::SecretsManager::Secret",
    "AWS::ElastiCache::SubnetGroup",
    "AWS::ElastiCache::ReplicationGroup",
    "AWS::S3::BucketPolicy",
    "AWS::CloudFront::OriginAccessControl",
    "AWS::CloudFront::Distribution",
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::CloudWatch::Alarm",
}


def load_template():
    template, matches = decode(str(TEMPLATE))
    assert not matches, matches
    return json.loads(json.dumps(template))


# ---- What the template says, evaluated the way CloudFormation does ---------------------------------


def conditions_for(template, params):
    """Every condition's value for these parameter values."""
    raw = template["Conditions"]
    done = {}

    def value(x):
        if isinstance(x, dict) and "Ref" in x:
            return params[x["Ref"]]
        return x

    def evaluate(expr):
        (fn, args), = expr.items()
        if fn == "Condition":
            return condition(args)
        if fn == "Fn::Equals":
            return str(value(args[0])) == str(value(args[1]))
        if fn == "Fn::Not":
            return not evaluate(args[0])
        if fn == "Fn::Or":
            return any(evaluate(a) for a in args)
        if fn == "Fn::And":
            return all(evaluate(a) for a in args)
        raise AssertionError(f"condition function {fn}")

    def condition(name):
        if name not in done:
            done[name] = evaluate(raw[name])
        return done[name]

    return {name: condition(name) for name in raw}


def parameters_for(template, **overrides):
    params = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    params["ImageId"] = "ami-12c6146b"
    params.update({k: str(v) for k, v in overrides.items()})
    return params


def user_data_text(template):
    data = template["Resources"]["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]
    return data["UserData"]["Fn::Base64"]["Fn::Sub"][0]


SITE_LINE = re.compile(r"^(\s*)([a-z_]+)=(?:<[^>]*>|\$\{[A-Za-z:]+\}\S*)$")


def normalised(cloud_config):
    """The document without comments and with every site value (`name=<...>` in
    deploy/cloud-init.yaml, `name=${...}` in the stack) replaced by one marker."""
    out = []
    for line in cloud_config.splitlines():
        stripped = line.strip()
        if not stripped or (stripped.startswith("#") and stripped not in ("#cloud-config", "#!/bin/sh")):
            continue
        out.append(SITE_LINE.sub(r"\1\2=@", line))
    return out


# ---- The template as moto can take it -----------------------------------------------------------


def for_moto(template, params):
    """The template without the resources moto does not model. A reference to one becomes the
    string "unmodeled-NAME[-ATTR]". Fn::Cidr (which moto lacks) and Fn::GetAZs "" (which moto
    answers with us-east-1's zones whatever the region) are evaluated here."""
    removed = {n for n, r in template["Resources"].items() if r["Type"] in MOTO_UNMODELED}

    def sub_string(text, keys):
        def repl(m):
            ref = m.group(1)
            name = ref.split(".")[0]
            if name in removed and ref not in keys:
                return "unmodeled-" + ref.replace(".", "-")
            return m.group(0)

        return re.sub(r"\$\{([A-Za-z0-9.:]+)\}", repl, text)

    def walk(x):
        if isinstance(x, list):
            return [walk(v) for v in x]
        if not isinstance(x, dict):
            return x
        if list(x) == ["Ref"] and x["Ref"] in removed:
            return "unmodeled-" + x["Ref"]
        if list(x) == ["Fn::GetAtt"]:
            name, attr = x["Fn::GetAtt"]
            if name in removed:
                return f"unmodeled-{name}-{attr}".replace(".", "-")
        if list(x) == ["Fn::GetAZs"] and x["Fn::GetAZs"] in ("", {"Ref": "AWS::Region"}):
            return [REGION + zone for zone in "abc"]
        if list(x) == ["Fn::Cidr"]:
            block, count, bits = x["Fn::Cidr"]
            block = params[block["Ref"]] if isinstance(block, dict) else block
            nets = ipaddress.ip_network(block).subnets(new_prefix=32 - int(bits))
            return [str(n) for _, n in zip(range(int(count)), nets)]
        if list(x) == ["Fn::Sub"]:
            sub = x["Fn::Sub"]
            if isinstance(sub, str):
                return {"Fn::Sub": sub_string(sub, {})}
            mapping = {k: walk(v) for k, v in sub[1].items()}
            return {"Fn::Sub": [sub_string(sub[0], mapping), mapping]}
        return {k: walk(v) for k, v in x.items()}

    out = {k: v for k, v in template.items() if k not in ("Rules", "Metadata")}
    out["Resources"] = {n: walk(r) for n, r in template["Resources"].items() if n not in removed}
    out["Outputs"] = walk(template["Outputs"])
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    def __enter__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="stratus-moto-")
        self.log = open(Path(self.dir) / "moto.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(150):
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)
                return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.2)
        raise RuntimeError(f"moto_server did not start (log: {self.log.name})")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        if exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    def client(self, service):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="stratus-test",
            aws_secret_access_key="stratus-test-secret",
        )


FAKES = {
    "aws": """case "$*" in
  *secretsmanager*SecretKey*) printf 'k%.0s' $(seq 64); echo ;;
  *secretsmanager*DatabasePassword*) printf 'p%.0s' $(seq 40); echo ;;
  *) echo "aws $*" >> "$FAKE_LOG" ;;
esac""",
    "cloud-init": """case "$2" in v1.region) echo %s ;; v1.instance_id) echo i-0fake ;; *) exit 1 ;; esac""" % REGION,
    "curl": """for a in "$@"; do url=$a; done
case "$url" in
  */api/token) echo token ;;
  */instance-id) echo i-0fake ;;
  */autoscaling/target-lifecycle-state)
    echo "curl autoscaling/target-lifecycle-state" >> "$FAKE_LOG"
    n=$(grep -c target-lifecycle-state "$FAKE_LOG")
    if [ "$n" -lt 3 ]; then echo InService; else echo Terminated; fi ;;
  *) exit 22 ;;
esac""",
    "systemctl": 'echo "systemctl $*" >> "$FAKE_LOG"',
    "mount": 'echo "mount $*" >> "$FAKE_LOG"',
    "mountpoint": 'echo "mountpoint $*" >> "$FAKE_LOG"',
    "install": 'echo "install $*" >> "$FAKE_LOG"',
    "sleep": """:""",
}


class Sandbox:
    """A directory standing for / in which a user-data script runs with fake system commands;
    every fake call is logged."""

    def __init__(self, root):
        self.root = root
        os.makedirs(self.path("bin"))
        for name, body in FAKES.items():
            with open(self.path(f"bin/{name}"), "w") as f:
                f.write("#!/bin/sh\n" + body + "\n")
            os.chmod(self.path(f"bin/{name}"), 0o755)
        open(self.path("calls"), "w").close()

    def path(self, relative):
        return os.path.join(self.root, relative)

    def run(self, script):
        moved = re.sub(r"(?<!file://)(?<![\w.])/(etc|mnt)/", self.root + r"/\1/", script)
        env = {"PATH": self.path("bin") + ":/usr/bin:/bin", "FAKE_LOG": self.path("calls")}
        run = subprocess.run(["sh", "-c", moved], env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, (run.returncode, run.stderr)

    def read(self, relative):
        with open(self.path(relative)) as f:
            return f.read()

    def calls(self):
        return self.read("calls")


def rocket_toml():
    import tomllib

    return tomllib.loads((ROOT / "Rocket.toml").read_text())


def settings_keys():
    """The keys declared in the settings! table (src/config.rs) and the Rocket keys Stratus reads."""
    source = (ROOT / "src" / "config.rs").read_text()
    body = source[source.index("settings! {") :]
    keys = set(re.findall(r'\bkey: "([a-z_]+)"', body))
    assert len(keys) > 30, f"settings! table not found in src/config.rs ({len(keys)} keys)"
    return keys | {"address", "port", "secret_key", "shutdown"}


def env_names(script):
    return re.findall(r"^\s*(ROCKET_[A-Z_]+|STRATUS_[A-Z_]+|AWS_[A-Z_]+)=", script, re.M)
