/*
 * gossip_msg_int.h - what gossip_msg.c (writing a message, its bound)
 * and gossip_msg_decode.c (reading one) share. Nothing else includes
 * it. Any thread.
 */
#ifndef SHOAL_CLUSTER_GOSSIP_MSG_INT_H
#define SHOAL_CLUSTER_GOSSIP_MSG_INT_H

#include <stdbool.h>
#include <stddef.h>

/* Whether s (len bytes) is a cluster's name: 1 to GOSSIP_CLUSTER_MAX - 1
 * bytes, no control byte. */
bool gossip_msg_cluster_valid(const char *s, size_t len);

#endif
