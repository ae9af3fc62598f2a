#!/usr/bin/env python3
"""The AWS deployment files, checked without an AWS account (run by tests/aws_stack.sh).

1. cfn-lint (informational checks included) passes on deploy/aws/stratus.yaml.
2. `packer validate` (Debian's packer) passes on deploy/aws/stratus.pkr.hcl.
3. deploy/cloud-init.yaml is the launch template's user data with its placeholders unfilled, and
   both its shell scripts parse (`sh -n`).
4. The stack is created in moto's CloudFormation once per level (1-6) and what moto models is
   read back through the AWS APIs: network, security groups, load balancer and health check,
   launch template and user data, instance role (least privilege), Auto Scaling group, RDS,
   S3, EFS, Kinesis. Moto does not model the rest (MOTO_UNMODELED below): those resources are
   left out of what moto gets, references to them become "unmodeled-NAME" strings, and the
   template itself is checked for them instead (conditions per level, properties).
"""

import base64
import copy
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
import unittest
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
    string "unmodeled-NAME[-ATTR]"; Fn::Cidr (which moto lacks) is evaluated here."""
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
            [shutil.which("moto_server") or "moto_server", "-H", "127.0.0.1", "-p", str(self.port)],
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


def rocket_toml():
    import tomllib

    return tomllib.loads((ROOT / "Rocket.toml").read_text())


def settings_keys():
    """The keys of RawSettings (src/config.rs) and the Rocket keys Stratus reads."""
    source = (ROOT / "src" / "config.rs").read_text()
    body = source[source.index("pub(crate) struct RawSettings {") : source.index("impl Default for RawSettings")]
    return set(re.findall(r"^\s+([a-z_]+):", body, re.M)) | {"address", "port", "secret_key", "shutdown"}


def env_names(script):
    return re.findall(r"^\s*(ROCKET_[A-Z_]+|STRATUS_[A-Z_]+|AWS_[A-Z_]+)=", script, re.M)


# What each level must and must not create, by logical id (levels 1..6).
EXPECTED = {
    "SharedDisk": {1},
    "SharedDiskMountA": {1},
    "SharedDiskMountB": {1},
    "SharedDiskSecurityGroup": {1},
    "PhotoBucket": {2, 3, 4, 5, 6},
    "PhotoBucketPolicy": {2, 3, 4, 5, 6},
    "ScaleOut": {3, 4, 5, 6},
    "ScaleIn": {3, 4, 5, 6},
    "LatencyHigh": {3, 4, 5, 6},
    "LatencyLow": {3, 4, 5, 6},
    "Cdn": {5, 6},
    "CdnOriginAccess": {5, 6},
    "AccessLogStream": {6},
}
EVERY_LEVEL = {"Vpc", "Alb", "WebTargets", "WebGroup", "WebLaunchTemplate", "WebRole", "Database", "Cache",
               "DatabasePassword", "SecretKey", "NatGatewayA"}


class Tools(unittest.TestCase):
    def test_cfn_lint_passes_with_informational_checks(self):
        run = subprocess.run(["cfn-lint", "--include-checks", "I", "--", str(TEMPLATE)], capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def test_cfn_lint_rejects_a_broken_template(self):
        # The lint step can fail: a reference to a resource that is not there is caught.
        broken = TEMPLATE.read_text().replace("TargetGroupARNs: [!Ref WebTargets]", "TargetGroupARNs: [!Ref NoSuchGroup]")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(broken)
            f.flush()
            run = subprocess.run(["cfn-lint", "--", f.name], capture_output=True, text=True)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("NoSuchGroup", run.stdout)

    def test_packer_validate_passes(self):
        with tempfile.NamedTemporaryFile(prefix="stratus-binary-") as binary:
            run = subprocess.run(
                ["packer", "validate", "-var", f"stratus_binary={binary.name}", str(PACKER)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)

    def test_packer_bakes_binary_unit_and_user(self):
        text = PACKER.read_text()
        self.assertIn('"${path.root}/../stratus.service"', text)
        self.assertIn("install -m 0755 -o root -g root /tmp/stratus /usr/local/bin/stratus", text)
        self.assertIn("/etc/systemd/system/stratus.service", text)
        self.assertIn("useradd --system", text)
        self.assertIn("encrypt_boot = true", re.sub(r"\s+=\s+", " = ", text))
        # Not enabled at bake time: it would start without its settings.
        self.assertNotIn("enable stratus", text)


class UserData(unittest.TestCase):
    def test_cloud_init_yaml_is_the_stack_user_data(self):
        stack = normalised(user_data_text(load_template()))
        by_hand = normalised(CLOUD_INIT.read_text())
        self.assertEqual(by_hand, stack)
        self.assertGreater(sum(line.endswith("=@") for line in stack), 10)

    def test_every_setting_it_writes_is_one_stratus_reads(self):
        script = user_data_text(load_template())
        keys = settings_keys()
        names = env_names(script)
        self.assertIn("ROCKET_DRAIN_SECS", names)
        for name in names:
            if name in ("ROCKET_PROFILE", "STRATUS_LEVEL", "AWS_REGION"):
                continue
            self.assertIn(name.removeprefix("ROCKET_").lower(), keys, name)
        self.assertIn('std::env::var("STRATUS_LEVEL")', (ROOT / "src" / "lib.rs").read_text())

    def test_no_secret_in_parameters_or_user_data(self):
        template = load_template()
        for name in template["Parameters"]:
            self.assertNotRegex(name.lower(), "password|secret|key$", name)
        script = user_data_text(template)
        self.assertIn("secret_key=$(secret \"$secret_key_secret\")", script)
        self.assertIn("db_password=$(secret \"$db_password_secret\")", script)
        self.assertIn("chmod 0600 /etc/stratus/stratus.env", script)
        self.assertIn("umask 077", script)
        database = template["Resources"]["Database"]["Properties"]
        self.assertEqual(database["MasterUserPassword"], {"Fn::Sub": "{{resolve:secretsmanager:${DatabasePassword}}}"})
        for secret in ("DatabasePassword", "SecretKey"):
            generated = template["Resources"][secret]["Properties"]["GenerateSecretString"]
            # Alphanumeric: the password goes into database_url as it is; the key is >= 32.
            self.assertTrue(generated["ExcludePunctuation"])
            self.assertGreaterEqual(generated["PasswordLength"], 32)
