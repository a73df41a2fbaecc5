/*
 * The OpenStack provider (Keystone v3 + Neutron): the one name that leaves
 * providers/openstack/.
 */
#ifndef PROV_OPENSTACK_PUBLIC_H
#define PROV_OPENSTACK_PUBLIC_H

#include "providers/provider.h"

extern const struct prov_ops openstack_ops;

#endif
