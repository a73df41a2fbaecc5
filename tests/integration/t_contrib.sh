#!/bin/bash
# contrib/aws, contrib/azure and contrib/oci: the IAM policies / custom role,
# cloud-init user data, CloudFormation and
# Terraform files checked offline (contrib/aws/validate.py), including
# `cloudroute check` on every embedded configuration.  Changes nothing.
. "$(dirname "$0")/../lib/netns.sh"
check "contrib/aws validates" python3 "$TOP/contrib/aws/validate.py" --cloudroute "$CLOUDROUTE"
check "contrib/azure validates" python3 "$TOP/contrib/azure/validate.py" --cloudroute "$CLOUDROUTE"
check "contrib/oci validates" python3 "$TOP/contrib/oci/validate.py" --cloudroute "$CLOUDROUTE"
check "example config is rejected only for its placeholder key" sh -c \
	"$CLOUDROUTE -c $TOP/contrib/cloudroute.example.json check 2>&1 | grep -q 'public_key: not a WireGuard key'"
finish
