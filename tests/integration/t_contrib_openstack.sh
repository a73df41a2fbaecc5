#!/bin/bash
# contrib/openstack: access rules, cloud-init user data, Heat and Terraform
# checked offline (contrib/openstack/validate.py), including `cloudroute
# check` on every embedded configuration.  Changes nothing.
. "$(dirname "$0")/../lib/netns.sh"
check "contrib/openstack validates" python3 "$TOP/contrib/openstack/validate.py" --cloudroute "$CLOUDROUTE"
finish
