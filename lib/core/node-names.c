/* SPDX-License-Identifier: MIT */
/* The set of node and device names in use (see qimg/node-names.h): two
 * short lists, searched linearly (a command opens a handful of nodes). */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "qimg/node-names.h"
#include "util/vector.h"

/* QEMU keeps a node's name in 32 bytes, its terminator included. */
#define NODE_NAME_MAX 31

struct name_entry {
	char *name;
	const void *owner; /* NULL for a device name */
};

struct qimg_node_names {
	pthread_mutex_t lock;
	unsigned int refs;
	struct name_entry *v;
	size_t n, cap;
};

struct qimg_node_names *qimg_node_names_new(void)
{
	struct qimg_node_names *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	s->refs = 1;
	return s;
}

struct qimg_node_names *qimg_node_names_ref(struct qimg_node_names *names)
{
	pthread_mutex_lock(&names->lock);
	names->refs++;
	pthread_mutex_unlock(&names->lock);
	return names;
}

void qimg_node_names_unref(struct qimg_node_names *names)
{
	unsigned int left;
	size_t i;

	if (!names)
		return;
	pthread_mutex_lock(&names->lock);
	left = --names->refs;
	pthread_mutex_unlock(&names->lock);
	if (left)
		return;
	for (i = 0; i < names->n; i++)
		free(names->v[i].name);
	free(names->v);
	pthread_mutex_destroy(&names->lock);
	free(names);
}

/* The entry named `name` of the kind asked for (node or device), or NULL;
 * called with the lock held. */
static struct name_entry *find(struct qimg_node_names *s, const char *name,
			       bool device)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if ((s->v[i].owner == NULL) == device &&
		    !strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

/* Append an entry; called with the lock held. */
static int add(struct qimg_node_names *s, const char *name, const void *owner)
{
	void *p = s->v;
	char *copy = strdup(name);

	if (!copy ||
	    qimg_vector_grow(&p, &s->cap, s->n, 1, sizeof(*s->v)) < 0) {
		free(copy);
		return -ENOMEM;
	}
	s->v = p;
	s->v[s->n].name = copy;
	s->v[s->n].owner = owner;
	s->n++;
	return 0;
}

int qimg_node_names_claim(struct qimg_node_names *names, const char *name,
			  const void *owner, struct qimg_error *err)
{
	int r = 0;

	pthread_mutex_lock(&names->lock);
	if (find(names, name, true))
		r = qimg_error_set(err, EEXIST,
				   "node-name=%s is conflicting with a device "
				   "id",
				   name);
	else if (find(names, name, false))
		r = qimg_error_set(err, EEXIST,
				   "Duplicate nodes with node-name='%s'", name);
	else if (strlen(name) > NODE_NAME_MAX)
		r = qimg_error_set(err, EINVAL, "Node name too long");
	else if (add(names, name, owner) < 0)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	pthread_mutex_unlock(&names->lock);
	return r;
}

int qimg_node_names_take_over(struct qimg_node_names *names, const char *name,
			      const void *owner)
{
	struct name_entry *e;
	int r = 0;

	pthread_mutex_lock(&names->lock);
	e = find(names, name, false);
	if (e)
		e->owner = owner;
	else
		r = add(names, name, owner);
	pthread_mutex_unlock(&names->lock);
	return r;
}

void qimg_node_names_release(struct qimg_node_names *names, const char *name,
			     const void *owner)
{
	struct name_entry *e;

	pthread_mutex_lock(&names->lock);
	e = find(names, name, false);
	if (e && e->owner == owner) {
		free(e->name);
		*e = names->v[--names->n];
	}
	pthread_mutex_unlock(&names->lock);
}

int qimg_node_names_add_device(struct qimg_node_names *names, const char *id,
			       struct qimg_error *err)
{
	int r = 0;

	pthread_mutex_lock(&names->lock);
	if (find(names, id, false))
		r = qimg_error_set(
			err, EEXIST,
			"Device name '%s' conflicts with an existing "
			"node name",
			id);
	else if (add(names, id, NULL) < 0)
		r = qimg_error_set(err, ENOMEM, "Out of memory");
	pthread_mutex_unlock(&names->lock);
	return r;
}
