/* SPDX-License-Identifier: MIT */
/* The names a process's open nodes and devices go by.  QEMU keeps one set
 * per process: a node name is taken by one open node at a time, whatever
 * image it belongs to (two sources of one convert may not share one), and
 * node names and device names (a -drive's id) may not be alike.  A tool
 * makes one set per command and gives it to every open; an open given none
 * uses a set of its own.  Thread-safe. */
#ifndef QIMG_NODE_NAMES_H
#define QIMG_NODE_NAMES_H

#include "qimg/error.h"

struct qimg_node_names;

/* A new, empty set (one reference); NULL when out of memory. */
struct qimg_node_names *qimg_node_names_new(void);
/* Another reference to the set; returns it. */
struct qimg_node_names *qimg_node_names_ref(struct qimg_node_names *names);
/* Drop a reference; the last one frees the set.  NULL is ignored. */
void qimg_node_names_unref(struct qimg_node_names *names);

/* Take node name `name` for `owner`, checked as QEMU checks a node's name
 * when it opens: no device may have it ("node-name=X is conflicting with a
 * device id"), no open node ("Duplicate nodes with node-name='X'"), and it
 * must fit ("Node name too long").  The name's form is checked before. */
int qimg_node_names_claim(struct qimg_node_names *names, const char *name,
			  const void *owner, struct qimg_error *err);
/* Take `name` for `owner` whoever holds it (a node opened again to take
 * an open node's place keeps its names). */
int qimg_node_names_take_over(struct qimg_node_names *names, const char *name,
			      const void *owner);
/* Give `name` back if `owner` holds it. */
void qimg_node_names_release(struct qimg_node_names *names, const char *name,
			     const void *owner);

/* Add the device name `id` (a drive's id): "Device name 'X' conflicts with
 * an existing node name" when an open node has it. */
int qimg_node_names_add_device(struct qimg_node_names *names, const char *id,
			       struct qimg_error *err);

#endif
