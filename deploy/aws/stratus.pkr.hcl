# The machine image every level's web instances boot (deploy/aws/stratus.yaml's ImageId): Debian 12
# with the stratus binary, its systemd unit (not enabled: cloud-init writes the settings, then
# starts it), a `stratus` system user, and the tools the user data uses (awscli for the
# secrets and the drain hook, nfs-common for level 1's shared disk). The root volume is encrypted.
#
#   cargo build --release --locked
#   packer build -var region=eu-west-1 deploy/aws/stratus.pkr.hcl
#
# Credentials and region come from the standard AWS chain, as for the aws CLI. Written for
# Debian's packer (1.6), whose amazon-ebs builder is built in. The binary must be built for
# the image's architecture and glibc: build it on Debian 12 (bookworm) for x86_64, or change
# instance_type and the filter's architecture together (t4g.small + arm64 for Graviton).

variable "region" {
  type        = string
  description = "The region the image is made in (copy it elsewhere with `aws ec2 copy-image`)."
  default     = "us-east-1"
}

variable "instance_type" {
  type        = string
  description = "The builder instance; its architecture must match source_ami_filter's."
  default     = "t3.small"
}

variable "stratus_binary" {
  type        = string
  description = "The release binary to bake in."
  default     = "target/release/stratus"
}

locals {
  stamp = regex_replace(timestamp(), "[- TZ:]", "")
}

source "amazon-ebs" "debian" {
  region          = var.region
  instance_type   = var.instance_type
  ami_name        = "stratus-${local.stamp}"
  ami_description = "Stratus photo site (fleet profile); settings come from user data"
  encrypt_boot    = true
  ssh_username    = "admin"
  # Debian's own images (the Debian cloud team's account).
  source_ami_filter {
    filters = {
      name                = "debian-12-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"]
    most_recent = true
  }
  tags = {
    Name        = "stratus"
    Application = "stratus"
  }
}

build {
  sources = ["source.amazon-ebs.debian"]

  provisioner "file" {
    source      = var.stratus_binary
    destination = "/tmp/stratus"
  }

  provisioner "file" {
    source      = "${path.root}/../stratus.service"
    destination = "/tmp/stratus.service"
  }

  provisioner "shell" {
    environment_vars = ["DEBIAN_FRONTEND=noninteractive"]
    inline = [
      "set -eux",
      "sudo apt-get update -q",
      "sudo -E apt-get install -y -q awscli curl nfs-common",
      "sudo -E apt-get upgrade -y -q",
      "sudo useradd --system --home-dir /var/lib/stratus --no-create-home --shell /usr/sbin/nologin stratus",
      "sudo install -m 0755 -o root -g root /tmp/stratus /usr/local/bin/stratus",
      "sudo install -m 0644 -o root -g root /tmp/stratus.service /etc/systemd/system/stratus.service",
      "rm /tmp/stratus /tmp/stratus.service",
      "/usr/local/bin/stratus --version",
      "sudo systemctl daemon-reload",
      # The image's first boot is a new instance: cloud-init runs again (user data, host keys).
      "sudo cloud-init clean --logs",
    ]
  }
}
