/* Copyright (c) 2026 dovecot-coi authors, see the included COPYING file */

/* Dovecot's SQL dict (2.3 and 2.4) cannot list below a mailbox's top
   level: any listing whose prefix reaches into a map's last variable
   fails with "Key continues past the matched pattern", so with attributes
   in SQL, GETMETADATA with DEPTH on the COI configuration or the WebPush
   subscriptions (both required by the specs) would answer NO. Listing a
   mailbox's whole private or shared attributes works with every dict, and
   a mailbox has few of them, so every listing asks the storage for the
   top level and keeps the keys below the prefix here. The file dict reads
   all keys for any prefix anyway. */

#include "lib.h"
#include "mail-storage-private.h"
#include "mailbox-attribute-private.h"
#include "coi-user.h"
#include "coi-attribute-list.h"

#define COI_ATTRIBUTE_LIST_CONTEXT_REQUIRE(obj) \
	MODULE_CONTEXT_REQUIRE(obj, coi_attribute_list_module)

struct coi_attribute_list_mailbox {
	union mailbox_module_context module_ctx;
};

struct coi_attribute_list_iter {
	struct mailbox_attribute_iter iter;
	struct mailbox_attribute_iter *top_iter;
	char *prefix;
	size_t prefix_len;
};

static MODULE_CONTEXT_DEFINE_INIT(coi_attribute_list_module,
				  &mail_storage_module_register);

static struct mailbox_attribute_iter *
coi_attribute_list_iter_init(struct mailbox *box,
			     enum mail_attribute_type type_flags,
			     const char *prefix)
{
	struct coi_attribute_list_mailbox *lbox =
		COI_ATTRIBUTE_LIST_CONTEXT_REQUIRE(box);
	struct coi_attribute_list_iter *iter;

	iter = i_new(struct coi_attribute_list_iter, 1);
	iter->iter.box = box;
	iter->top_iter = lbox->module_ctx.super.attribute_iter_init(box,
		type_flags, "");
	iter->prefix = i_strdup(prefix);
	iter->prefix_len = strlen(prefix);
	return &iter->iter;
}

static const char *
coi_attribute_list_iter_next(struct mailbox_attribute_iter *_iter)
{
	struct coi_attribute_list_iter *iter =
		(struct coi_attribute_list_iter *)_iter;
	struct coi_attribute_list_mailbox *lbox =
		COI_ATTRIBUTE_LIST_CONTEXT_REQUIRE(_iter->box);
	const char *key;

	while ((key = lbox->module_ctx.super.attribute_iter_next(
			iter->top_iter)) != NULL) {
		if (strncmp(key, iter->prefix, iter->prefix_len) == 0)
			return key + iter->prefix_len;
	}
	return NULL;
}

static int
coi_attribute_list_iter_deinit(struct mailbox_attribute_iter *_iter)
{
	struct coi_attribute_list_iter *iter =
		(struct coi_attribute_list_iter *)_iter;
	struct coi_attribute_list_mailbox *lbox =
		COI_ATTRIBUTE_LIST_CONTEXT_REQUIRE(_iter->box);
	int ret;

	ret = lbox->module_ctx.super.attribute_iter_deinit(iter->top_iter);
	i_free(iter->prefix);
	i_free(iter);
	return ret;
}

void coi_attribute_list_mailbox_allocated(struct mailbox *box)
{
	struct mailbox_vfuncs *v = box->vlast;
	struct coi_attribute_list_mailbox *lbox;

	if (coi_box_get_user(box) == NULL)
		return;

	lbox = p_new(box->pool, struct coi_attribute_list_mailbox, 1);
	lbox->module_ctx.super = *v;
	box->vlast = &lbox->module_ctx.super;
	v->attribute_iter_init = coi_attribute_list_iter_init;
	v->attribute_iter_next = coi_attribute_list_iter_next;
	v->attribute_iter_deinit = coi_attribute_list_iter_deinit;
	MODULE_CONTEXT_SET(box, coi_attribute_list_module, lbox);
}
