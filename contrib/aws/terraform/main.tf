# cloudroute connector on AWS: a Debian 12 instance with an instance profile
# carrying the least-privilege policy of ../iam-policy.json (scoped to this
# region and account), IMDSv2 required, and ../user-data.yaml as cloud-init
# user data (edit its config first: hub public key, endpoint, addresses).
#
# The source/destination check is left on: cloudroute turns it off itself,
# records that it did, and `cloudroute teardown` restores it.  To let
# Terraform own it instead, set `source_dest_check = false` below and
# "source_dest_check": "leave" in the cloudroute config.
#
# IMPORTANT if Terraform also manages this VPC's route tables: cloudroute
# writes routes (the overlay and the peer sites, pointing at this instance's
# ENI) into them.  Terraform removes routes it does not know about on the next
# apply when the table is declared with inline `route` blocks.  Either manage
# your own routes with separate `aws_route` resources and declare the table
# without inline routes, or tell Terraform to leave its routes alone:
#
#   resource "aws_route_table" "private" {
#     vpc_id = var.vpc_id
#     route {
#       cidr_block = "0.0.0.0/0"
#       nat_gateway_id = aws_nat_gateway.main.id
#     }
#     lifecycle {
#       ignore_changes = [route]   # routes added by cloudroute stay
#     }
#   }

terraform {
  required_version = ">= 1.3"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}

# Debian 12 AMI from Debian's public SSM parameter.
data "aws_ssm_parameter" "debian12" {
  name = "/aws/service/debian/release/12/latest/amd64"
}

locals {
  arn_prefix = "arn:${data.aws_partition.current.partition}:ec2:${var.region}:${data.aws_caller_identity.current.account_id}"
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "cloudroute" {
  statement {
    sid       = "CloudrouteReadNetwork"
    actions   = ["ec2:DescribeRouteTables", "ec2:DescribeNetworkInterfaces", "ec2:DescribeInstances"]
    resources = ["*"]
  }
  statement {
    sid       = "CloudrouteManageRoutes"
    actions   = ["ec2:CreateRoute", "ec2:ReplaceRoute", "ec2:DeleteRoute"]
    resources = ["${local.arn_prefix}:route-table/*"]
  }
  # Only ENIs tagged as connectors' (aws_ec2_tag.connector_eni below; the
  # role itself cannot set that tag).
  statement {
    sid       = "CloudrouteSourceDestCheckConnectorEnisOnly"
    actions   = ["ec2:ModifyNetworkInterfaceAttribute"]
    resources = ["${local.arn_prefix}:network-interface/*"]
    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/cloudroute:connector"
      values   = ["true"]
    }
  }
  statement {
    sid       = "CloudrouteTagOwnEniHaGroupOnly"
    actions   = ["ec2:CreateTags", "ec2:DeleteTags"]
    resources = ["${local.arn_prefix}:network-interface/*"]
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["cloudroute:ha-group"]
    }
    # ForAllValues is true for a request without tags (and DeleteTags without
    # tags deletes all of them): require the key to be present.
    condition {
      test     = "Null"
      variable = "aws:TagKeys"
      values   = ["false"]
    }
  }
}

resource "aws_iam_role" "connector" {
  name_prefix        = "${var.name}-"
  description        = "cloudroute connector: route tables, source/dest check, own ENI tag"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

resource "aws_iam_role_policy" "connector" {
  name   = "cloudroute"
  role   = aws_iam_role.connector.id
  policy = data.aws_iam_policy_document.cloudroute.json
}

resource "aws_iam_instance_profile" "connector" {
  name_prefix = "${var.name}-"
  role        = aws_iam_role.connector.name
}

resource "aws_security_group" "connector" {
  name_prefix = "${var.name}-"
  description = "cloudroute connector"
  vpc_id      = var.vpc_id

  ingress {
    description = "WireGuard from the peers"
    protocol    = "udp"
    from_port   = var.wireguard_port
    to_port     = var.wireguard_port
    cidr_blocks = var.vpn_peer_cidrs
  }
  ingress {
    description = "traffic from the VPC to the overlay and peer sites"
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = [var.vpc_cidr]
  }
  egress {
    protocol    = "-1"
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_instance" "connector" {
  ami                         = data.aws_ssm_parameter.debian12.value
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [aws_security_group.connector.id]
  iam_instance_profile        = aws_iam_instance_profile.connector.name
  associate_public_ip_address = true
  user_data                   = file("${path.module}/${var.user_data_file}")

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only; cloudroute never uses v1
    http_put_response_hop_limit = 1
  }

  tags = {
    Name = var.name
  }

  lifecycle {
    # cloudroute changes the source/dest check at run time; do not fight it.
    ignore_changes = [source_dest_check]
  }
}

resource "aws_ec2_tag" "connector_eni" {
  resource_id = aws_instance.connector.primary_network_interface_id
  key         = "cloudroute:connector"
  value       = "true"
}

output "instance_id" {
  value = aws_instance.connector.id
}

output "private_ip" {
  value = aws_instance.connector.private_ip
}

output "public_ip" {
  description = "give this (with the public key from the console log) to the peers"
  value       = aws_instance.connector.public_ip
}

output "role_arn" {
  value = aws_iam_role.connector.arn
}
