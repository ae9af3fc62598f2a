#!/usr/bin/env python3
"""The AWS deployment files, checked without an AWS account (run by tests/aws_stack.sh).

1. cfn-lint (informational checks included) passes on deploy/aws/stratus.yaml.
2. `packer validate` (Debian's packer) passes on deploy/aws/stratus.pkr.hcl.
3. deploy/cloud-init.yaml is the launch template's user data with its placeholders unfilled; its
   scripts, filled in per level, parse (`sh -n`) and run against fake aws, cloud-init, systemctl,
   mount and curl, and the env file they write is read by `stratus config` (the binary).
4. The stack is created in moto's CloudFormation once per level (1-6) and what moto models is
   read back through the AWS APIs: network, security groups, load balancer and health check,
   launch template and user data, instance role (least privilege), Auto Scaling group, RDS,
   S3, EFS, Kinesis. Moto does not model the rest (MOTO_UNMODELED, aws_stack_support.py):
   those resources are left out of what moto gets, references to them become "unmodeled-NAME"
   strings, and the template itself is checked for them instead (conditions per level, properties).
"""

import ast
import base64
import json
import os
import re
import subprocess
import tempfile
import unittest

import yaml

from aws_stack_support import (
    CLOUD_INIT,
    MOTO_UNMODELED,
    PACKER,
    REGION,
    ROOT,
    TEMPLATE,
    MotoServer,
    Sandbox,
    conditions_for,
    env_names,
    for_moto,
    load_template,
    normalised,
    parameters_for,
    rocket_toml,
    settings_keys,
    user_data_text,
)


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
        self.assertIn('std::env::var("STRATUS_LEVEL")', (ROOT / "src" / "config" / "sources.rs").read_text())

    def test_no_secret_in_parameters_or_user_data(self):
        template = load_template()
        for name in template["Parameters"]:
            self.assertNotRegex(name.lower(), "password|secret|key$", name)
        outputs = json.dumps(template["Outputs"])
        self.assertNotIn("DatabasePassword", outputs)
        self.assertNotIn("SecretKey", outputs)
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


class Template(unittest.TestCase):
    """What moto does not model (or ignores), checked in the template itself."""

    @classmethod
    def setUpClass(cls):
        cls.template = load_template()
        cls.resources = cls.template["Resources"]

    def created(self, level, **params):
        conditions = conditions_for(self.template, parameters_for(self.template, Level=level, **params))
        return {n for n, r in self.resources.items() if "Condition" not in r or conditions[r["Condition"]]}

    def test_each_level_creates_what_it_needs_and_nothing_of_later_levels(self):
        for level in range(1, 7):
            created = self.created(level)
            self.assertTrue(EVERY_LEVEL <= created, (level, EVERY_LEVEL - created))
            for name, levels in EXPECTED.items():
                self.assertEqual(name in created, level in levels, (level, name))

    def test_conditions_follow_the_parameters(self):
        self.assertNotIn("NatGatewayB", self.created(5, NatGateways=1))
        self.assertIn("NatGatewayB", self.created(5, NatGateways=2))
        self.assertNotIn("HttpsListener", self.created(5))
        self.assertIn("HttpsListener", self.created(5, CertificateArn="arn:aws:acm:eu-west-1:1:certificate/x"))
        ha = conditions_for(self.template, parameters_for(self.template, CacheMultiAz="true"))
        self.assertTrue(ha["CacheHa"])
        cache = self.resources["Cache"]["Properties"]
        self.assertEqual(cache["NumCacheClusters"], {"Fn::If": ["CacheHa", 2, 1]})
        self.assertEqual(self.resources["Database"]["Properties"]["MultiAZ"], {"Ref": "DbMultiAz"})

    def test_drain_matches_drain_secs(self):
        params = self.template["Parameters"]["DrainSeconds"]
        targets = self.resources["WebTargets"]["Properties"]
        # The health check notices a draining instance (/readyz 503) within the drain.
        self.assertEqual(targets["HealthCheckPath"], "/readyz")
        noticed = targets["HealthCheckIntervalSeconds"] * targets["UnhealthyThresholdCount"]
        self.assertGreaterEqual(params["MinValue"], noticed)
        self.assertIn({"Key": "deregistration_delay.timeout_seconds", "Value": {"Ref": "DrainSeconds"}},
                      targets["TargetGroupAttributes"])
        script = user_data_text(self.template)
        self.assertIn("drain_secs=${DrainSeconds}", script)
        self.assertIn("ROCKET_DRAIN_SECS=$drain_secs", script)
        # The hook holds a terminating instance while it drains: the longest drain, then the
        # shutdown grace and mercy (Rocket.toml), then the drain script's 5 s poll, must fit.
        shutdown = rocket_toml()["default"]["shutdown"]
        (hook,) = self.resources["WebGroup"]["Properties"]["LifecycleHookSpecificationList"]
        self.assertEqual(hook["LifecycleTransition"], "autoscaling:EC2_INSTANCE_TERMINATING")
        self.assertEqual(hook["DefaultResult"], "CONTINUE")
        self.assertIn("HOOK_NAME=" + hook["LifecycleHookName"], script)
        self.assertGreater(hook["HeartbeatTimeout"], params["MaxValue"] + shutdown["grace"] + shutdown["mercy"] + 5)
        # systemd must not SIGKILL stratus before it has drained and finished.
        timeout = int(re.search(r"\$\(\(drain_secs \+ (\d+)\)\)", script).group(1))
        self.assertGreater(timeout, shutdown["grace"] + shutdown["mercy"])
        # The drain script completes the hook of the group the role may complete it on.
        group = self.resources["WebGroup"]["Properties"]["AutoScalingGroupName"]["Fn::Sub"]
        self.assertIn(f"asg_name={group}", script)
        statement = next(s for s in self.role_statements() if s.get("Sid") == "DrainOnScaleIn")
        self.assertTrue(statement["Resource"]["Fn::Sub"].endswith("autoScalingGroupName/" + group))

    def role_statements(self):
        doc = self.resources["WebRole"]["Properties"]["Policies"][0]["PolicyDocument"]
        return [s["Fn::If"][1] if "Fn::If" in s else s for s in doc["Statement"]]

    def test_scaling_is_p90_step_scaling_on_the_alb(self):
        high = self.resources["LatencyHigh"]["Properties"]
        low = self.resources["LatencyLow"]["Properties"]
        for alarm in (high, low):
            self.assertEqual(alarm["Namespace"], "AWS/ApplicationELB")
            self.assertEqual(alarm["MetricName"], "TargetResponseTime")
            self.assertEqual(alarm["ExtendedStatistic"], "p90")
            self.assertEqual(
                alarm["Dimensions"],
                [
                    {"Name": "LoadBalancer", "Value": {"Fn::GetAtt": ["Alb", "LoadBalancerFullName"]}},
                    {"Name": "TargetGroup", "Value": {"Fn::GetAtt": ["WebTargets", "TargetGroupFullName"]}},
                ],
            )
        self.assertEqual((high["Threshold"], high["ComparisonOperator"]), (0.4, "GreaterThanThreshold"))
        self.assertEqual((low["Threshold"], low["ComparisonOperator"]), (0.1, "LessThanThreshold"))
        self.assertEqual(high["AlarmActions"], [{"Ref": "ScaleOut"}])
        self.assertEqual(low["AlarmActions"], [{"Ref": "ScaleIn"}])
        for policy in ("ScaleOut", "ScaleIn"):
            props = self.resources[policy]["Properties"]
            self.assertEqual(props["PolicyType"], "StepScaling")
            self.assertEqual(props["AutoScalingGroupName"], {"Ref": "WebGroup"})
        self.assertTrue(all(s["ScalingAdjustment"] > 0 for s in self.resources["ScaleOut"]["Properties"]["StepAdjustments"]))
        self.assertTrue(all(s["ScalingAdjustment"] < 0 for s in self.resources["ScaleIn"]["Properties"]["StepAdjustments"]))

    def test_only_cloudfront_reads_the_private_bucket(self):
        bucket = self.resources["PhotoBucket"]["Properties"]
        self.assertTrue(all(bucket["PublicAccessBlockConfiguration"].values()))
        statements = self.resources["PhotoBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        tls, cdn = statements[0], statements[1]["Fn::If"]
        self.assertEqual((tls["Effect"], tls["Condition"]), ("Deny", {"Bool": {"aws:SecureTransport": "false"}}))
        self.assertEqual(cdn[0], "HasCdn")
        allow = cdn[1]
        self.assertEqual(allow["Principal"], {"Service": "cloudfront.amazonaws.com"})
        self.assertEqual(allow["Action"], "s3:GetObject")
        self.assertEqual(allow["Resource"], {"Fn::Sub": "${PhotoBucket.Arn}/photos/*"})
        self.assertIn("distribution/${Cdn}", allow["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"])
        config = self.resources["Cdn"]["Properties"]["DistributionConfig"]
        (origin,) = config["Origins"]
        self.assertEqual(origin["OriginAccessControlId"], {"Fn::GetAtt": ["CdnOriginAccess", "Id"]})
        self.assertEqual(origin["S3OriginConfig"], {"OriginAccessIdentity": ""})
        self.assertEqual(config["DefaultCacheBehavior"]["ViewerProtocolPolicy"], "redirect-to-https")
        oac = self.resources["CdnOriginAccess"]["Properties"]["OriginAccessControlConfig"]
        self.assertEqual((oac["SigningBehavior"], oac["SigningProtocol"]), ("always", "sigv4"))
        # Its domain becomes media_base_url.
        mapping = self.resources["WebLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"][1]
        self.assertEqual(mapping["MediaBaseUrl"], {"Fn::If": ["HasCdn", {"Fn::Sub": "https://${Cdn.DomainName}"}, ""]})
        self.assertEqual(self.template["Outputs"]["CdnDomain"]["Value"], {"Fn::GetAtt": ["Cdn", "DomainName"]})

    def test_private_subnets_route_through_their_zone(self):
        for zone in "AB":
            for kind in ("Public", "Private"):
                association = self.resources[f"{kind}Subnet{zone}Routes"]["Properties"]
                table = "PublicRouteTable" if kind == "Public" else f"PrivateRouteTable{zone}"
                self.assertEqual(association, {"SubnetId": {"Ref": f"{kind}Subnet{zone}"}, "RouteTableId": {"Ref": table}})
        self.assertEqual(self.resources["PublicDefaultRoute"]["Properties"]["GatewayId"], {"Ref": "InternetGateway"})

    def test_database_is_private_encrypted_and_fenced(self):
        database = self.resources["Database"]
        props = database["Properties"]
        self.assertEqual(props["VPCSecurityGroups"], [{"Fn::GetAtt": ["DatabaseSecurityGroup", "GroupId"]}])
        self.assertEqual(self.resources["DatabaseSubnets"]["Properties"]["SubnetIds"],
                         [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}])
        self.assertFalse(props["PubliclyAccessible"])
        self.assertTrue(props["StorageEncrypted"])
        self.assertEqual(database["DeletionPolicy"], "Snapshot")
        # The password outlives a deleted stack, with the final snapshot it opens.
        self.assertEqual(self.resources["DatabasePassword"]["DeletionPolicy"], "Retain")

    def test_access_log_stream_is_encrypted(self):
        stream = self.resources["AccessLogStream"]["Properties"]
        self.assertEqual(stream["StreamEncryption"], {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"})
        self.assertEqual(stream["ShardCount"], {"Ref": "StreamShards"})

    def test_cache_is_private_and_encrypted_at_rest(self):
        cache = self.resources["Cache"]["Properties"]
        self.assertTrue(cache["AtRestEncryptionEnabled"])
        self.assertEqual(cache["SecurityGroupIds"], [{"Fn::GetAtt": ["CacheSecurityGroup", "GroupId"]}])
        self.assertEqual(cache["CacheSubnetGroupName"], {"Ref": "CacheSubnets"})
        self.assertEqual(self.resources["CacheSubnets"]["Properties"]["SubnetIds"],
                         [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}])


class Moto(unittest.TestCase):
    """The stack created in moto's CloudFormation, once per level, and read back."""

    VARIANT = {"Level": 2, "NatGateways": 1, "DbMultiAz": "false", "MinSize": 3,
               "DomainName": "photos.example.com", "DrainSeconds": 30}

    @classmethod
    def setUpClass(cls):
        cls.template = load_template()
        cls.moto = MotoServer().__enter__()
        try:
            cls.create_stacks()
        except BaseException:
            cls.moto.__exit__(None, None, None)
            raise

    @classmethod
    def create_stacks(cls):
        cls.stacks = {}
        cloudformation = cls.moto.client("cloudformation")
        # The HTTPS listener's certificate must exist (moto checks).
        certificate = cls.moto.client("acm").request_certificate(DomainName="photos.example.com")["CertificateArn"]
        variant = dict(cls.VARIANT, CertificateArn=certificate)
        runs = [(f"level{level}", {"Level": level}) for level in range(1, 7)] + [("variant", variant)]
        for name, overrides in runs:
            params = parameters_for(cls.template, **overrides)
            cloudformation.create_stack(
                StackName=f"stratus-{name}",
                TemplateBody=json.dumps(for_moto(cls.template, params)),
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
                Capabilities=["CAPABILITY_IAM"],
            )
            stack = cloudformation.describe_stacks(StackName=f"stratus-{name}")["Stacks"][0]
            summaries = cloudformation.list_stack_resources(StackName=f"stratus-{name}")["StackResourceSummaries"]
            cls.stacks[name] = {
                "params": params,
                "status": stack["StackStatus"],
                "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
                "ids": {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in summaries},
            }

    @classmethod
    def tearDownClass(cls):
        cls.moto.__exit__(None, None, None)

    def each(self):
        return [(int(stack["params"]["Level"]), stack) for stack in self.stacks.values()]

    def test_every_level_is_created_with_what_it_needs(self):
        for level, stack in self.each():
            self.assertEqual(stack["status"], "CREATE_COMPLETE")
            ids = stack["ids"]
            for name, levels in EXPECTED.items():
                if self.template["Resources"][name]["Type"] not in MOTO_UNMODELED:
                    self.assertEqual(name in ids, level in levels, name)
            modeled = {n for n in EVERY_LEVEL if self.template["Resources"][n]["Type"] not in MOTO_UNMODELED}
            self.assertTrue(modeled <= set(ids), modeled - set(ids))

    def test_network_spans_two_zones_with_private_instances(self):
        ec2 = self.moto.client("ec2")
        for _, stack in self.each():
            ids = stack["ids"]
            vpc = ec2.describe_vpcs(VpcIds=[ids["Vpc"]])["Vpcs"][0]
            self.assertEqual(vpc["CidrBlock"], "10.40.0.0/16")
            names = ["PublicSubnetA", "PublicSubnetB", "PrivateSubnetA", "PrivateSubnetB"]
            subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(SubnetIds=[ids[n] for n in names])["Subnets"]}
            zones = [subnets[ids[n]]["AvailabilityZone"] for n in names]
            self.assertEqual(zones, [f"{REGION}a", f"{REGION}b"] * 2)
            cidrs = [subnets[ids[n]]["CidrBlock"] for n in names]
            self.assertEqual(cidrs, ["10.40.0.0/20", "10.40.16.0/20", "10.40.128.0/20", "10.40.144.0/20"])
            nats = ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [ids["Vpc"]]}])["NatGateways"]
            self.assertEqual(len(nats), int(stack["params"]["NatGateways"]))
            self.assertTrue(all(n["SubnetId"] in (ids["PublicSubnetA"], ids["PublicSubnetB"]) for n in nats))
            for zone in "AB":
                table = ec2.describe_route_tables(RouteTableIds=[ids[f"PrivateRouteTable{zone}"]])["RouteTables"][0]
                default = [r for r in table["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
                self.assertEqual([r.get("NatGatewayId") for r in default], [ids.get(f"NatGateway{zone}", ids["NatGatewayA"])])
                self.assertIn(ids["S3Endpoint"], [r.get("GatewayId") for r in table["Routes"]])

    def test_security_groups_chain_internet_alb_web_data(self):
        ec2 = self.moto.client("ec2")
        for level, stack in self.each():
            ids = stack["ids"]

            def ingress(group):
                return ec2.describe_security_groups(GroupIds=[ids[group]])["SecurityGroups"][0]["IpPermissions"]

            def only_from(group, port, source):
                (rule,) = ingress(group)
                self.assertEqual((rule["FromPort"], rule["ToPort"]), (port, port))
                self.assertEqual([p["GroupId"] for p in rule["UserIdGroupPairs"]], [ids[source]])
                self.assertEqual((rule["IpRanges"], rule.get("Ipv6Ranges", [])), ([], []))

            only_from("WebSecurityGroup", 8000, "AlbSecurityGroup")
            only_from("DatabaseSecurityGroup", 3306, "WebSecurityGroup")
            only_from("CacheSecurityGroup", 6379, "WebSecurityGroup")
            if level == 1:
                only_from("SharedDiskSecurityGroup", 2049, "WebSecurityGroup")
            self.assertEqual(sorted(r["FromPort"] for r in ingress("AlbSecurityGroup")), [80, 443])

    def test_load_balancer_checks_readiness(self):
        elb = self.moto.client("elbv2")
        for _, stack in self.each():
            ids = stack["ids"]
            alb = elb.describe_load_balancers(LoadBalancerArns=[ids["Alb"]])["LoadBalancers"][0]
            self.assertEqual(alb["Scheme"], "internet-facing")
            self.assertEqual({z["SubnetId"] for z in alb["AvailabilityZones"]}, {ids["PublicSubnetA"], ids["PublicSubnetB"]})
            group = elb.describe_target_groups(TargetGroupArns=[ids["WebTargets"]])["TargetGroups"][0]
            self.assertEqual((group["Protocol"], group["Port"], group["HealthCheckPath"]), ("HTTP", 8000, "/readyz"))
            self.assertEqual(group["LoadBalancerArns"], [ids["Alb"]])
            listeners = {l["Port"]: l for l in elb.describe_listeners(LoadBalancerArn=ids["Alb"])["Listeners"]}
            if stack["params"]["CertificateArn"]:
                self.assertEqual(set(listeners), {80, 443})
                self.assertEqual(listeners[80]["DefaultActions"][0]["Type"], "redirect")
                self.assertEqual(listeners[443]["Certificates"][0]["CertificateArn"], stack["params"]["CertificateArn"])
                self.assertEqual(listeners[443]["DefaultActions"][0]["TargetGroupArn"], ids["WebTargets"])
                self.assertEqual(stack["outputs"]["SiteUrl"], "https://photos.example.com")
            else:
                self.assertEqual(set(listeners), {80})
                self.assertEqual(listeners[80]["DefaultActions"][0]["TargetGroupArn"], ids["WebTargets"])
                self.assertEqual(stack["outputs"]["SiteUrl"], "http://" + alb["DNSName"])

    def user_data(self, stack):
        ec2 = self.moto.client("ec2")
        version = ec2.describe_launch_template_versions(LaunchTemplateId=stack["ids"]["WebLaunchTemplate"])
        data = version["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        text = base64.b64decode(data["UserData"]).decode()
        self.assertTrue(text.startswith("#cloud-config\n"))
        return data, yaml.safe_load(text)

    def test_launch_template_boots_the_image_with_the_level_settings(self):
        rds = self.moto.client("rds")
        for level, stack in self.each():
            ids, params = stack["ids"], stack["params"]
            data, config = self.user_data(stack)
            self.assertEqual(data["ImageId"], params["ImageId"])
            self.assertEqual(data["MetadataOptions"]["HttpTokens"], "required")
            self.assertEqual(data["SecurityGroupIds"], [ids["WebSecurityGroup"]])
            self.assertTrue(data["IamInstanceProfile"]["Arn"].endswith("/" + ids["WebInstanceProfile"]))
            script = config["runcmd"][0]
            site = dict(re.findall(r"^([a-z_]+)=(.*)$", script, re.M))
            db = rds.describe_db_instances(DBInstanceIdentifier=ids["Database"])["DBInstances"][0]
            self.assertEqual(site["level"], str(level))
            self.assertEqual(site["db_host"], db["Endpoint"]["Address"])
            self.assertEqual(site["drain_secs"], params["DrainSeconds"])
            self.assertEqual(site["trusted_proxies"], params["VpcCidr"])
            self.assertEqual(site["cookie_secure"], "true" if params["CertificateArn"] else "false")
            self.assertEqual(site["asg_name"], ids["WebGroup"])
            self.assertEqual(site["cache_url"] != "none", level >= 4)
            if level == 1:
                self.assertEqual(site["storage_url"], "file:///mnt/shared/stratus/photos")
                self.assertEqual(site["shared_disk"], f"{ids['SharedDisk']}.efs.{REGION}.amazonaws.com")
            else:
                self.assertEqual(site["storage_url"], f"s3://{ids['PhotoBucket']}/photos")
                self.assertEqual(site["shared_disk"], "")
            self.assertEqual(site["media_base_url"] != "", level >= 5)
            self.assertEqual(site["access_log_stream"], f"kinesis://{ids['AccessLogStream']}" if level == 6 else "")
            # Both shell scripts parse once filled in.
            drain = next(f["content"] for f in config["write_files"] if f["path"] == "/usr/local/sbin/stratus-drain")
            for text in (script, drain):
                run = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True)
                self.assertEqual(run.returncode, 0, run.stderr)

    def test_user_data_scripts_run_and_write_the_settings(self):
        # Each level's filled-in scripts, run with fake aws, cloud-init, systemctl, mount and
        # curl, in a directory standing for / (the scripts' /etc and /mnt moved under it).
        for level, stack in self.each():
            _, config = self.user_data(stack)
            params = stack["params"]
            with tempfile.TemporaryDirectory(prefix="stratus-userdata-") as root:
                boot = Sandbox(root)
                boot.run(config["runcmd"][0])
                env = dict(line.split("=", 1) for line in boot.read("etc/stratus/stratus.env").splitlines())
                self.assertEqual(oct(os.stat(boot.path("etc/stratus/stratus.env")).st_mode & 0o777), "0o600")
                site = dict(re.findall(r"^([a-z_]+)=(.*)$", config["runcmd"][0], re.M))
                expected = {
                    "ROCKET_PROFILE": "fleet",
                    "STRATUS_LEVEL": str(level),
                    "ROCKET_ADDRESS": "0.0.0.0",
                    "ROCKET_PORT": "8000",
                    "ROCKET_INSTANCE_ID": "i-0fake",
                    "ROCKET_SECRET_KEY": "k" * 64,
                    "ROCKET_DATABASE_URL": f"mysql://stratus:{'p' * 40}@{site['db_host']}:3306/stratus",
                    "ROCKET_STORAGE_URL": site["storage_url"],
                    "ROCKET_CACHE_URL": site["cache_url"],
                    "ROCKET_SESSION_URL": f"redis://{site['redis_host']}:6379",
                    "ROCKET_TRUSTED_PROXIES": f"[{params['VpcCidr']}]",
                    "ROCKET_DRAIN_SECS": params["DrainSeconds"],
                    "ROCKET_LATENCY_MS": params["FrontPageDelayMs"],
                    "ROCKET_COOKIE_SECURE": "true" if params["CertificateArn"] else "false",
                    "ROCKET_ACCESS_LOG": "/var/log/stratus/access.log",
                    "AWS_REGION": REGION,
                }
                if level >= 5:
                    expected["ROCKET_MEDIA_BASE_URL"] = site["media_base_url"]
                if level == 6:
                    expected["ROCKET_ACCESS_LOG_STREAM"] = f"kinesis://{stack['ids']['AccessLogStream']}"
                self.assertEqual(env, expected)
                stop = int(params["DrainSeconds"]) + 15
                self.assertEqual(boot.read("etc/systemd/system/stratus.service.d/drain.conf"),
                                 f"[Service]\nTimeoutStopSec={stop}\n")
                self.assertEqual(boot.read("etc/stratus/drain.env"),
                                 f"ASG_NAME={stack['ids']['WebGroup']}\nHOOK_NAME=drain\nAWS_REGION={REGION}\n")
                calls = boot.calls()
                self.assertIn("systemctl enable --now stratus", calls)
                self.assertIn("systemctl enable --now stratus-drain.service", calls)
                shared = boot.path("etc/systemd/system/stratus.service.d/shared-disk.conf")
                if level == 1:
                    self.assertIn(f"{site['shared_disk']}:/ {root}/mnt/shared nfs4", boot.read("etc/fstab"))
                    self.assertIn(f"mount {root}/mnt/shared", calls)
                    self.assertIn(f"ReadWritePaths={root}/mnt/shared/stratus", boot.read(shared))
                else:
                    self.assertFalse(os.path.exists(shared))
                    self.assertFalse(any(c.startswith("mount") for c in calls.splitlines()))

    def test_stratus_reads_every_setting_the_user_data_writes(self):
        # The env file each level's user data writes, read by the real binary (`stratus config`
        # validates the settings, then says where each came from), level 6's kinesis:// included.
        binary = os.environ.get("STRATUS_BIN") or str(ROOT / "target" / "debug" / "stratus")
        for level, stack in self.each():
            _, config = self.user_data(stack)
            with tempfile.TemporaryDirectory(prefix="stratus-config-") as root:
                boot = Sandbox(root)
                boot.run(config["runcmd"][0])
                env = dict(line.split("=", 1) for line in boot.read("etc/stratus/stratus.env").splitlines())
                run = subprocess.run([binary, "config"], env={"PATH": "/usr/bin:/bin", **env}, cwd=root,
                                     capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, (level, run.stderr))
            self.assertIn("# profile: fleet (from env ROCKET_PROFILE)", run.stdout)
            self.assertRegex(run.stdout, rf'(?m)^stratus_level = "{level}" +# profiles/level{level}\.toml')
            for name, value in env.items():
                if not name.startswith("ROCKET_") or name == "ROCKET_PROFILE":
                    continue
                key = name.removeprefix("ROCKET_").lower()
                (line,) = [l for l in run.stdout.splitlines() if l.startswith(key + " = ")]
                self.assertTrue(line.endswith("# env " + name), (level, line))
                if key in ("secret_key", "database_url"):
                    self.assertNotIn(value.split("@")[0].rsplit(":", 1)[-1], line)

    def test_drain_script_waits_for_the_hook_then_stops_and_completes_it(self):
        _, config = self.user_data(self.stacks["level3"])
        drain = next(f["content"] for f in config["write_files"] if f["path"] == "/usr/local/sbin/stratus-drain")
        with tempfile.TemporaryDirectory(prefix="stratus-drain-") as root:
            boot = Sandbox(root)
            os.makedirs(boot.path("etc/stratus"))
            with open(boot.path("etc/stratus/drain.env"), "w") as f:
                f.write(f"ASG_NAME=stratus-level3-web\nHOOK_NAME=drain\nAWS_REGION={REGION}\n")
            boot.run(drain)
            calls = boot.calls().splitlines()
        # InService twice (polling), then Terminated: stop first, then release the hook.
        self.assertEqual(calls.count("curl autoscaling/target-lifecycle-state"), 3)
        stop = calls.index("systemctl stop stratus.service")
        complete = next(i for i, c in enumerate(calls) if c.startswith("aws autoscaling complete-lifecycle-action"))
        self.assertLess(stop, complete)
        self.assertEqual(
            calls[complete],
            f"aws autoscaling complete-lifecycle-action --region {REGION} --auto-scaling-group-name stratus-level3-web "
            "--lifecycle-hook-name drain --instance-id i-0fake --lifecycle-action-result CONTINUE",
        )

    def test_instance_role_is_least_privilege(self):
        iam = self.moto.client("iam")
        for level, stack in self.each():
            ids = stack["ids"]
            self.assertEqual(iam.list_role_policies(RoleName=ids["WebRole"])["PolicyNames"], ["stratus-web"])
            self.assertEqual(iam.list_attached_role_policies(RoleName=ids["WebRole"])["AttachedPolicies"], [])
            document = iam.get_role_policy(RoleName=ids["WebRole"], PolicyName="stratus-web")["PolicyDocument"]
            if isinstance(document, str):  # moto sometimes returns the document as a Python repr
                document = ast.literal_eval(document)
            # Moto keeps an AWS::NoValue in a list as null; CloudFormation drops it.
            statements = {s["Sid"]: s for s in document["Statement"] if s is not None}
            expected = {"ReadSecrets", "DrainOnScaleIn"}
            if level >= 2:
                expected |= {"PhotoObjects", "ListPhotos"}
            if level == 6:
                expected.add("AccessLogStream")
            self.assertEqual(set(statements), expected)
            for statement in statements.values():
                self.assertEqual(statement["Effect"], "Allow")
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                self.assertFalse([a for a in actions if "*" in a], statement)
                self.assertNotEqual(statement["Resource"], "*")
            self.assertEqual(statements["ReadSecrets"]["Resource"], ["unmodeled-DatabasePassword", "unmodeled-SecretKey"])
            self.assertTrue(statements["DrainOnScaleIn"]["Resource"].endswith(":autoScalingGroupName/" + ids["WebGroup"]))
            if level >= 2:
                bucket = ids["PhotoBucket"]
                self.assertEqual(statements["PhotoObjects"]["Resource"], f"arn:aws:s3:::{bucket}/photos/*")
                self.assertEqual(statements["ListPhotos"]["Resource"], f"arn:aws:s3:::{bucket}")
                self.assertEqual(statements["ListPhotos"]["Condition"], {"StringLike": {"s3:prefix": ["photos/*"]}})
            if level == 6:
                stream = self.moto.client("kinesis").describe_stream_summary(StreamName=ids["AccessLogStream"])
                self.assertEqual(statements["AccessLogStream"]["Resource"], stream["StreamDescriptionSummary"]["StreamARN"])
                self.assertIn("kinesis:PutRecords", statements["AccessLogStream"]["Action"])

    def test_auto_scaling_group_spans_both_private_subnets(self):
        autoscaling = self.moto.client("autoscaling")
        for level, stack in self.each():
            ids, params = stack["ids"], stack["params"]
            (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[ids["WebGroup"]])["AutoScalingGroups"]
            self.assertEqual(set(group["VPCZoneIdentifier"].split(",")), {ids["PrivateSubnetA"], ids["PrivateSubnetB"]})
            self.assertEqual(group["TargetGroupARNs"], [ids["WebTargets"]])
            self.assertEqual(group["HealthCheckType"], "ELB")
            self.assertEqual(group["MinSize"], int(params["MinSize"]))
            self.assertEqual(group["MaxSize"], int(params["MaxSize"] if level >= 3 else params["MinSize"]))
            self.assertEqual(group["LaunchTemplate"]["LaunchTemplateId"], ids["WebLaunchTemplate"])

    def test_data_stores(self):
        rds, s3, efs, kinesis = (self.moto.client(s) for s in ("rds", "s3", "efs", "kinesis"))
        for level, stack in self.each():
            ids, params = stack["ids"], stack["params"]
            db = rds.describe_db_instances(DBInstanceIdentifier=ids["Database"])["DBInstances"][0]
            self.assertEqual((db["Engine"], db["DBName"], db["MasterUsername"]), ("mysql", "stratus", "stratus"))
            self.assertEqual(db["MultiAZ"], params["DbMultiAz"] == "true")
            self.assertTrue(db["StorageEncrypted"])
            self.assertFalse(db["PubliclyAccessible"])
            # (moto's RDS ignores VPCSecurityGroups and DBSubnetGroupName's zones; Template checks them.)
            if level >= 2:
                # (moto applies only BucketEncryption and Tags; Template checks the public access block.)
                rules = s3.get_bucket_encryption(Bucket=ids["PhotoBucket"])["ServerSideEncryptionConfiguration"]["Rules"]
                self.assertEqual(rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"], "AES256")
                self.assertEqual(stack["outputs"]["PhotoBucket"], ids["PhotoBucket"])
            if level == 1:
                fs = efs.describe_file_systems(FileSystemId=ids["SharedDisk"])["FileSystems"][0]
                self.assertTrue(fs["Encrypted"])
                targets = efs.describe_mount_targets(FileSystemId=ids["SharedDisk"])["MountTargets"]
                self.assertEqual({t["SubnetId"] for t in targets}, {ids["PrivateSubnetA"], ids["PrivateSubnetB"]})
            if level == 6:
                summary = kinesis.describe_stream_summary(StreamName=ids["AccessLogStream"])["StreamDescriptionSummary"]
                self.assertEqual(summary["OpenShardCount"], int(params["StreamShards"]))
                self.assertEqual(stack["outputs"]["AccessLogStream"], ids["AccessLogStream"])
            self.assertEqual("CdnDomain" in stack["outputs"], level >= 5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
