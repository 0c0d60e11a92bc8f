
/*
 * Channels and messages in an sse_zone shared memory zone.
 *
 * Every message is linked in up to two places:
 *   - the history of its channel (and the zone-wide history queue, in id
 *     order, for expiry), while it is kept for replay and resume;
 *   - the zone-wide pending log, while some worker with subscribers has not
 *     handed it to them yet.
 * It is freed when it is in neither.  A worker walks the pending log from its
 * slot's "next" without the lock: nothing after its cursor can be freed.
 *
 * A worker also reads kept messages without the lock, to format history
 * for a subscriber (ngx_http_sse_store_read() to _read_done()).  While some
 * worker does, a message that leaves the history and the log waits in the
 * zone's limbo, and is freed once every worker that was reading when it
 * went there is done.
 */


#include "ngx_http_sse_shm.h"


static ngx_int_t ngx_http_sse_init_zone(ngx_shm_zone_t *shm_zone, void *data);
static void ngx_http_sse_channel_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_sse_channel_t *ngx_http_sse_channel_lookup(
    ngx_http_sse_shctx_t *sh, ngx_str_t *name, uint32_t hash);
static ngx_http_sse_channel_t *ngx_http_sse_channel_get(
    ngx_http_sse_zone_t *zone, ngx_str_t *name);
static void ngx_http_sse_channel_release(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch);
static ngx_int_t ngx_http_sse_chslot_add(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch, ngx_uint_t slot, ngx_int_t delta);
static void ngx_http_sse_msg_unhistory(ngx_http_sse_zone_t *zone,
    ngx_http_sse_msg_t *msg);
static void ngx_http_sse_msg_free(ngx_http_sse_zone_t *zone,
    ngx_http_sse_msg_t *msg);
static void ngx_http_sse_msg_retire(ngx_http_sse_zone_t *zone,
    ngx_http_sse_msg_t *msg);
static void ngx_http_sse_limbo_sweep(ngx_http_sse_zone_t *zone);
static void ngx_http_sse_expire(ngx_http_sse_zone_t *zone);
static void ngx_http_sse_gc(ngx_http_sse_zone_t *zone);
static void ngx_http_sse_slot_recover(ngx_http_sse_zone_t *zone,
    ngx_uint_t slot);
static void ngx_http_sse_log_full(ngx_http_sse_zone_t *zone, ngx_log_t *log);
static void ngx_http_sse_since(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **chs, ngx_uint_t n, ngx_http_sse_since_t *since);
static uint64_t ngx_http_sse_oldest_id(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch);
static ngx_http_sse_msg_t *ngx_http_sse_history_next(
    ngx_http_sse_channel_t *ch, ngx_http_sse_hpos_t *pos);
static ngx_int_t ngx_http_sse_read_gap(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch, ngx_http_sse_hpos_t *pos, ngx_uint_t channel,
    ngx_http_sse_hread_t *hr, ngx_uint_t *k);
static ngx_uint_t ngx_http_sse_read_messages(ngx_http_sse_msg_t **cur,
    ngx_uint_t n, ngx_http_sse_hread_t *hr, ngx_uint_t k);
static ngx_http_sse_channel_t *ngx_http_sse_info_locked(
    ngx_http_sse_zone_t *zone, ngx_str_t *name, ngx_http_sse_info_t *info);
static void ngx_http_sse_unsubscribe_locked(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **channels, ngx_uint_t n);
static void ngx_http_sse_ring_collect(ngx_http_sse_zone_t *zone,
    ngx_http_sse_msg_t *first, ngx_http_sse_wakeup_t *ring,
    ngx_uint_t *nring);
static ngx_int_t ngx_http_sse_store_append(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, uint64_t *ids, uint64_t *lost,
    ngx_http_sse_presult_t *res, ngx_log_t *log);
static ngx_uint_t ngx_http_sse_any_active(ngx_http_sse_zone_t *zone);
static ngx_http_sse_msg_t *ngx_http_sse_lost_commit(ngx_http_sse_zone_t *zone,
    uint64_t *lost, ngx_http_sse_msg_t *marker);
static ngx_int_t ngx_http_sse_lost_locked(ngx_http_sse_zone_t *zone,
    uint64_t id, ngx_http_sse_msg_t *marker);
static ngx_int_t ngx_http_sse_msgs_alloc(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, ngx_http_sse_msg_t **out);
static ngx_http_sse_msg_t *ngx_http_sse_msg_alloc(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *pm, ngx_str_t *channel);
static ngx_http_sse_msg_t *ngx_http_sse_msgs_commit(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, ngx_http_sse_msg_t **out,
    uint64_t *ids, ngx_http_sse_presult_t *res);
static void ngx_http_sse_msg_link(ngx_http_sse_zone_t *zone,
    ngx_http_sse_msg_t *msg, uint64_t id, ngx_uint_t active);
static size_t ngx_http_sse_slab_size(ngx_slab_pool_t *pool, size_t size);
static void ngx_http_sse_idle_add(ngx_http_sse_zone_t *zone, size_t size);
static void ngx_http_sse_idle_sub(ngx_http_sse_zone_t *zone, size_t size);
static void ngx_http_sse_idle_channel(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch, ngx_int_t delta);
static void ngx_http_sse_idle_chslot(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch, ngx_int_t delta);
static ngx_int_t ngx_http_sse_channel_room(ngx_http_sse_zone_t *zone,
    ngx_str_t *name);
static void ngx_http_sse_log_idle(ngx_http_sse_zone_t *zone, ngx_log_t *log);


ngx_int_t
ngx_http_sse_zone_add(ngx_conf_t *cf, ngx_http_sse_zone_t *zone, size_t size)
{
    ngx_shm_zone_t  *shm_zone;

    shm_zone = ngx_shared_memory_add(cf, &zone->name, size,
                                     &ngx_http_sse_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "sse_zone \"%V\" is already declared",
                           &zone->name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_sse_init_zone;
    shm_zone->data = zone;
    zone->shm_zone = shm_zone;

    ngx_rbtree_init(&zone->lchannels, &zone->lsentinel,
                    ngx_rbtree_insert_value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_sse_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_sse_zone_t  *ozone = data;

    size_t                 len;
    ngx_http_sse_zone_t   *zone;
    ngx_http_sse_shctx_t  *sh;

    zone = shm_zone->data;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(zone->shpool, sizeof(ngx_http_sse_shctx_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    zone->sh = sh;
    zone->shpool->data = sh;

    /*
     * the counts (sh->idle_size too) start at zero: ngx_slab_calloc();
     * a reload with the same size takes them over with the zone, above
     */

    ngx_rbtree_init(&sh->rbtree, &sh->sentinel, ngx_http_sse_channel_insert);
    ngx_queue_init(&sh->log);
    ngx_queue_init(&sh->all);
    ngx_queue_init(&sh->limbo);

    /* names this server's subscriber counts in Redis; kept on reload */
    sh->server_id = ((uint64_t) ngx_random() << 32)
                    ^ (uint64_t) ngx_random() ^ (uint64_t) ngx_time();

    len = sizeof(" in sse_zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in sse_zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is reported by the module, once a minute */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
ngx_http_sse_channel_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t      **p;
    ngx_http_sse_channel_t  *ch, *cht;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            ch = (ngx_http_sse_channel_t *) node;
            cht = (ngx_http_sse_channel_t *) temp;

            rc = ngx_memn2cmp(ch->name, cht->name, ch->len, cht->len);
            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_sse_channel_t *
ngx_http_sse_channel_lookup(ngx_http_sse_shctx_t *sh, ngx_str_t *name,
    uint32_t hash)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_sse_channel_t  *ch;

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        ch = (ngx_http_sse_channel_t *) node;

        rc = ngx_memn2cmp(name->data, ch->name, name->len, ch->len);

        if (rc == 0) {
            return ch;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/* finds or creates a channel; NULL when the zone is full */

static ngx_http_sse_channel_t *
ngx_http_sse_channel_get(ngx_http_sse_zone_t *zone, ngx_str_t *name)
{
    uint32_t                 hash;
    ngx_http_sse_channel_t  *ch;

    hash = ngx_crc32_short(name->data, name->len);

    ch = ngx_http_sse_channel_lookup(zone->sh, name, hash);
    if (ch) {
        return ch;
    }

    ch = ngx_slab_alloc_locked(zone->shpool,
                               offsetof(ngx_http_sse_channel_t, name)
                               + name->len);
    if (ch == NULL) {
        return NULL;
    }

    ngx_memzero(ch, offsetof(ngx_http_sse_channel_t, name));

    ch->node.key = hash;
    ch->dropped_id = zone->sh->forgotten_id;
    ch->len = name->len;
    ngx_memcpy(ch->name, name->data, name->len);
    ngx_queue_init(&ch->history);

    ngx_rbtree_insert(&zone->sh->rbtree, &ch->node);
    zone->sh->channels++;

    /* no messages yet */
    ngx_http_sse_idle_channel(zone, ch, 1);

    return ch;
}


/* frees a channel nobody uses any more */

static void
ngx_http_sse_channel_release(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch)
{
    ngx_http_sse_chslot_t  *cs, *next;

    if (ch->refs || ch->subscribers) {
        return;
    }

    if (ch->messages == 0) {
        ngx_http_sse_idle_channel(zone, ch, -1);
    }

    for (cs = ch->slots; cs; cs = next) {
        next = cs->next;
        ngx_slab_free_locked(zone->shpool, cs);
    }

    if (!ch->deleted) {
        ngx_rbtree_delete(&zone->sh->rbtree, &ch->node);
        zone->sh->channels--;

        /* the next record of this name cannot tell what was dropped */
        if (ch->dropped_id > zone->sh->forgotten_id) {
            zone->sh->forgotten_id = ch->dropped_id;
        }
    }

    ngx_slab_free_locked(zone->shpool, ch);
}


static ngx_int_t
ngx_http_sse_chslot_add(ngx_http_sse_zone_t *zone, ngx_http_sse_channel_t *ch,
    ngx_uint_t slot, ngx_int_t delta)
{
    ngx_http_sse_chslot_t  *cs, **pcs;

    for (pcs = &ch->slots; *pcs; pcs = &(*pcs)->next) {
        cs = *pcs;

        if (cs->slot != slot) {
            continue;
        }

        cs->count += delta;

        if (cs->count == 0) {
            *pcs = cs->next;
            ngx_slab_free_locked(zone->shpool, cs);
            ngx_http_sse_idle_chslot(zone, ch, -1);
        }

        return NGX_OK;
    }

    if (delta <= 0) {
        return NGX_OK;
    }

    cs = ngx_slab_alloc_locked(zone->shpool, sizeof(ngx_http_sse_chslot_t));
    if (cs == NULL) {
        return NGX_ERROR;
    }

    cs->slot = slot;
    cs->count = delta;
    cs->next = ch->slots;
    ch->slots = cs;

    ngx_http_sse_idle_chslot(zone, ch, 1);

    return NGX_OK;
}


static void
ngx_http_sse_msg_unhistory(ngx_http_sse_zone_t *zone, ngx_http_sse_msg_t *msg)
{
    ngx_queue_remove(&msg->chq);
    ngx_queue_remove(&msg->all);
    msg->in_history = 0;

    /* a subscriber resuming from before this id has missed something */
    if (msg->id > msg->channel->dropped_id) {
        msg->channel->dropped_id = msg->id;
    }

    msg->channel->messages--;
    zone->sh->messages--;

    if (msg->channel->messages == 0) {
        /* its last message went: the channel counts as empty again */
        ngx_http_sse_idle_channel(zone, msg->channel, 1);
    }

    if (!msg->in_log) {
        ngx_http_sse_msg_retire(zone, msg);
    }
}


static void
ngx_http_sse_msg_free(ngx_http_sse_zone_t *zone, ngx_http_sse_msg_t *msg)
{
    ngx_http_sse_channel_t  *ch;

    ch = msg->channel;

    ngx_slab_free_locked(zone->shpool, msg);

    if (ch == NULL) {
        /* a loss marker belongs to no channel */
        return;
    }

    ch->refs--;
    ngx_http_sse_channel_release(zone, ch);
}


/* a message nobody needs any more: freed, or in limbo while workers read */

static void
ngx_http_sse_msg_retire(ngx_http_sse_zone_t *zone, ngx_http_sse_msg_t *msg)
{
    ngx_http_sse_shctx_t  *sh;

    sh = zone->sh;

    if (sh->nreading == 0) {
        ngx_http_sse_msg_free(zone, msg);
        return;
    }

    /* the "all" link is free: the message left the history */

    ngx_queue_insert_tail(&sh->limbo, &msg->all);
    sh->retired++;
}


/*
 * Frees what waits in limbo and no reading worker can hold: the k-th
 * message put there is free once every reading slot began after it.
 */

static void
ngx_http_sse_limbo_sweep(ngx_http_sse_zone_t *zone)
{
    uint64_t               min;
    ngx_uint_t             i, found;
    ngx_queue_t           *q;
    ngx_http_sse_slot_t   *slot;
    ngx_http_sse_shctx_t  *sh;

    sh = zone->sh;

    if (ngx_queue_empty(&sh->limbo)) {
        return;
    }

    min = sh->retired + 1;
    found = 0;

    /* the scan stops once every reading slot was seen */

    for (i = 0; found < sh->nreading && i < sh->nslots; i++) {
        slot = &sh->slots[i];

        if (slot->pid && slot->reading) {
            found++;

            if (slot->reading < min) {
                min = slot->reading;
            }
        }
    }

    while (!ngx_queue_empty(&sh->limbo) && sh->unlimbo + 1 < min) {
        q = ngx_queue_head(&sh->limbo);
        ngx_queue_remove(q);
        sh->unlimbo++;

        ngx_http_sse_msg_free(zone, ngx_queue_data(q, ngx_http_sse_msg_t, all));
    }
}


/* drops the kept messages whose time is up, oldest first */

static void
ngx_http_sse_expire(ngx_http_sse_zone_t *zone)
{
    ngx_queue_t         *q;
    ngx_http_sse_msg_t  *msg;

    while (!ngx_queue_empty(&zone->sh->all)) {
        q = ngx_queue_head(&zone->sh->all);
        msg = ngx_queue_data(q, ngx_http_sse_msg_t, all);

        if (msg->expires == 0
            || (ngx_msec_int_t) (msg->expires - ngx_current_msec) > 0)
        {
            return;
        }

        ngx_http_sse_msg_unhistory(zone, msg);
    }
}


/* unlinks from the pending log what every active worker has seen */

static void
ngx_http_sse_gc(ngx_http_sse_zone_t *zone)
{
    uint64_t               min;
    ngx_uint_t             i;
    ngx_queue_t           *q;
    ngx_http_sse_msg_t    *msg;
    ngx_http_sse_slot_t   *slot;
    ngx_http_sse_shctx_t  *sh;

    sh = zone->sh;
    min = sh->last_id;

    for (i = 0; i < sh->nslots; i++) {
        slot = &sh->slots[i];

        if (slot->pid && slot->active && slot->cursor < min) {
            min = slot->cursor;
        }
    }

    while (!ngx_queue_empty(&sh->log)) {
        q = ngx_queue_head(&sh->log);
        msg = ngx_queue_data(q, ngx_http_sse_msg_t, log);

        if (msg->id > min) {
            return;
        }

        ngx_queue_remove(q);
        msg->in_log = 0;

        if (!msg->in_history) {
            ngx_http_sse_msg_retire(zone, msg);
        }
    }
}


static void
ngx_http_sse_log_full(ngx_http_sse_zone_t *zone, ngx_log_t *log)
{
    if (zone->sh->full_logged + 60 > ngx_time()) {
        return;
    }

    zone->sh->full_logged = ngx_time();

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "sse_zone \"%V\" is full even after dropping expired "
                  "messages: publishes and new channels are refused "
                  "(logged at most once a minute)", &zone->name);
}


ngx_int_t
ngx_http_sse_store_publish(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, ngx_http_sse_presult_t *res,
    ngx_log_t *log)
{
    return ngx_http_sse_store_append(zone, msgs, n, NULL, NULL, res, log);
}


/*
 * With redis=: messages that Redis numbered, in id order (ids[k] for the
 * k-th message and channel pair).  Those this zone already holds are
 * skipped, so every worker of a server may insert what it fetched.  A
 * message that does not fit is dropped, not retried: the id still moves on.
 *
 * lost, if not NULL and not 0: the ids after what the zone holds, up to
 * *lost, are lost to this server before these messages (the Redis log no
 * longer reaches back to them).  The loss and the messages after it reach
 * the workers together, so that a live stream's sse_gap names the first
 * id of its channel that follows (ngx_http_sse_lost_locked).  *lost is
 * set to 0 when the zone had that id already: nothing was lost.
 */

ngx_int_t
ngx_http_sse_store_insert(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, uint64_t *ids, uint64_t *lost,
    ngx_log_t *log)
{
    ngx_int_t   rc;
    ngx_uint_t  i, total;

    rc = ngx_http_sse_store_append(zone, msgs, n, ids, lost, NULL, log);

    if (rc == NGX_DECLINED) {
        total = 0;
        for (i = 0; i < n; i++) {
            total += msgs[i].nchannels;
        }

        ngx_shmtx_lock(&zone->shpool->mutex);

        /* the history learns the loss; live streams do not: no room */

        if (lost && *lost
            && ngx_http_sse_lost_locked(zone, *lost, NULL) != NGX_OK)
        {
            *lost = 0;
        }

        if (total && ids[total - 1] > zone->sh->last_id) {
            zone->sh->last_id = ids[total - 1];
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
    }

    return rc;
}


/*
 * Appends messages, each on each of its channels: all of them, or none
 * when the zone is full (NGX_DECLINED).  ids: numbered by a backend (see
 * _insert), else here; lost: a loss before them (see _insert); res: what
 * each message and channel pair got.
 */

static ngx_int_t
ngx_http_sse_store_append(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pmsg_t *msgs, ngx_uint_t n, uint64_t *ids, uint64_t *lost,
    ngx_http_sse_presult_t *res, ngx_log_t *log)
{
    ngx_uint_t              i, total, nring;
    ngx_http_sse_msg_t     *first, *marker, *msg, **out;
    ngx_http_sse_wakeup_t   ring[NGX_HTTP_SSE_MAX_SLOTS];

    total = 0;
    for (i = 0; i < n; i++) {
        total += msgs[i].nchannels;
    }

    out = ngx_alloc((total + 1) * sizeof(ngx_http_sse_msg_t *), log);
    if (out == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_sse_expire(zone);

    /* allocate everything first: a publish is all or nothing */

    marker = NULL;

    if (lost && *lost > zone->sh->last_id && ngx_http_sse_any_active(zone)) {
        /* the loss, for the workers with live streams */
        marker = ngx_slab_alloc_locked(zone->shpool,
                                       offsetof(ngx_http_sse_msg_t, text));
        if (marker == NULL) {
            goto full;
        }

        ngx_memzero(marker, offsetof(ngx_http_sse_msg_t, text));
    }

    if (ngx_http_sse_msgs_alloc(zone, msgs, n, out) != NGX_OK) {
        goto full;
    }

    first = ngx_http_sse_lost_commit(zone, lost, marker);

    msg = ngx_http_sse_msgs_commit(zone, msgs, n, out, ids, res);

    if (first == NULL) {
        first = msg;
    }

    nring = 0;

    if (first) {
        ngx_http_sse_ring_collect(zone, first, ring, &nring);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_free(out);

    if (nring && zone->arrived) {
        zone->arrived(ring, nring, log);
    }

    return NGX_OK;

full:

    if (marker) {
        ngx_http_sse_msg_free(zone, marker);
    }

    ngx_http_sse_log_full(zone, log);
    ngx_shmtx_unlock(&zone->shpool->mutex);
    ngx_free(out);

    return NGX_DECLINED;
}


/* under the lock: some worker has subscribers (reads the pending log) */

static ngx_uint_t
ngx_http_sse_any_active(ngx_http_sse_zone_t *zone)
{
    ngx_uint_t             i;
    ngx_http_sse_shctx_t  *sh;

    sh = zone->sh;

    for (i = 0; i < sh->nslots; i++) {
        if (sh->slots[i].pid && sh->slots[i].active) {
            return 1;
        }
    }

    return 0;
}


/*
 * Under the lock: the loss before the messages of an insert, if any, and
 * its marker in the pending log (returned: the first thing there), or
 * *lost set to 0 when the zone had that id already.
 */

static ngx_http_sse_msg_t *
ngx_http_sse_lost_commit(ngx_http_sse_zone_t *zone, uint64_t *lost,
    ngx_http_sse_msg_t *marker)
{
    if (lost == NULL || *lost == 0) {
        return NULL;
    }

    if (ngx_http_sse_lost_locked(zone, *lost, marker) == NGX_OK) {
        return marker;
    }

    /* the zone has it already: another worker applied it */

    *lost = 0;

    if (marker) {
        ngx_http_sse_msg_free(zone, marker);
    }

    return NULL;
}


/* a record for each message and channel pair, in out[]; or none */

static ngx_int_t
ngx_http_sse_msgs_alloc(ngx_http_sse_zone_t *zone, ngx_http_sse_pmsg_t *msgs,
    ngx_uint_t n, ngx_http_sse_msg_t **out)
{
    ngx_uint_t           i, j, k;
    ngx_http_sse_msg_t  *msg;

    k = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < msgs[i].nchannels; j++) {

            msg = ngx_http_sse_msg_alloc(zone, &msgs[i],
                                         &msgs[i].channels[j]);
            if (msg == NULL) {
                while (k) {
                    ngx_http_sse_msg_free(zone, out[--k]);
                }

                return NGX_DECLINED;
            }

            out[k++] = msg;
        }
    }

    return NGX_OK;
}


/* one message on one channel, filled in, not numbered nor linked yet */

static ngx_http_sse_msg_t *
ngx_http_sse_msg_alloc(ngx_http_sse_zone_t *zone, ngx_http_sse_pmsg_t *pm,
    ngx_str_t *channel)
{
    u_char                  *p;
    size_t                   size;
    ngx_http_sse_msg_t      *msg;
    ngx_http_sse_channel_t  *ch;

    ch = ngx_http_sse_channel_get(zone, channel);
    if (ch == NULL) {
        return NULL;
    }

    size = offsetof(ngx_http_sse_msg_t, text)
           + pm->event.len + pm->user.len + pm->data.len;

    msg = ngx_slab_alloc_locked(zone->shpool, size);
    if (msg == NULL) {
        ngx_http_sse_channel_release(zone, ch);
        return NULL;
    }

    ngx_memzero(msg, offsetof(ngx_http_sse_msg_t, text));

    msg->channel = ch;
    ch->refs++;

    msg->event_len = (uint16_t) pm->event.len;
    msg->user_len = (uint16_t) pm->user.len;
    msg->data_len = pm->data.len;

    /* empty fields may have no data pointer at all */

    p = msg->text;

    if (pm->event.len) {
        p = ngx_cpymem(p, pm->event.data, pm->event.len);
    }

    if (pm->user.len) {
        p = ngx_cpymem(p, pm->user.data, pm->user.len);
    }

    if (pm->data.len) {
        ngx_memcpy(p, pm->data.data, pm->data.len);
    }

    return msg;
}


/*
 * Numbers the allocated messages and links each where it belongs; those
 * a backend numbered that the zone holds already are freed.  Returns the
 * first one in the pending log, or NULL.
 */

static ngx_http_sse_msg_t *
ngx_http_sse_msgs_commit(ngx_http_sse_zone_t *zone, ngx_http_sse_pmsg_t *msgs,
    ngx_uint_t n, ngx_http_sse_msg_t **out, uint64_t *ids,
    ngx_http_sse_presult_t *res)
{
    ngx_uint_t             i, j, k, active, added;
    ngx_http_sse_msg_t    *msg, *first;
    ngx_http_sse_shctx_t  *sh;

    sh = zone->sh;

    active = ngx_http_sse_any_active(zone);

    first = NULL;
    added = 0;
    k = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < msgs[i].nchannels; j++, k++) {
            msg = out[k];

            if (ids && ids[k] <= sh->last_id) {
                /* already here: fetched by another worker */
                ngx_http_sse_msg_free(zone, msg);
                continue;
            }

            sh->last_id = ids ? ids[k] : sh->last_id + 1;
            added++;

            ngx_http_sse_msg_link(zone, msg, sh->last_id, active);

            if (msg->in_log && first == NULL) {
                first = msg;
            }

            if (res) {
                res->id = msg->id;
                res->channel = msgs[i].channels[j];
                res->subscribers = msg->channel->subscribers;
                res++;
            }

            if (!msg->in_log && !msg->in_history) {
                ngx_http_sse_msg_free(zone, msg);
            }
        }
    }

    (void) ngx_atomic_fetch_add(&sh->published, added);

    return first;
}


/*
 * A message gets its id, its expiry, and its places: the pending log if
 * some worker has subscribers (active), the history of its channel
 */

static void
ngx_http_sse_msg_link(ngx_http_sse_zone_t *zone, ngx_http_sse_msg_t *msg,
    uint64_t id, ngx_uint_t active)
{
    ngx_queue_t             *q;
    ngx_http_sse_channel_t  *ch;

    ch = msg->channel;

    msg->id = id;
    ch->last_id = id;

    if (zone->ttl) {
        msg->expires = ngx_current_msec + zone->ttl;
        if (msg->expires == 0) {
            msg->expires = 1;
        }
    }

    if (active) {
        ngx_queue_insert_tail(&zone->sh->log, &msg->log);
        msg->in_log = 1;
    }

    if (zone->history == 0) {
        /* not kept, so a resume from before it misses it */
        ch->dropped_id = id;
        return;
    }

    ngx_queue_insert_tail(&ch->history, &msg->chq);
    ngx_queue_insert_tail(&zone->sh->all, &msg->all);
    msg->in_history = 1;

    if (ch->messages++ == 0) {
        ngx_http_sse_idle_channel(zone, ch, -1);
    }

    zone->sh->messages++;

    while (ch->messages > zone->history) {
        q = ngx_queue_head(&ch->history);
        ngx_http_sse_msg_unhistory(zone,
                                   ngx_queue_data(q, ngx_http_sse_msg_t, chq));
    }
}


/*
 * Points every active worker at the new messages; collects whom to wake
 * (copied under the lock: the hook runs without it)
 */

static void
ngx_http_sse_ring_collect(ngx_http_sse_zone_t *zone, ngx_http_sse_msg_t *first,
    ngx_http_sse_wakeup_t *ring, ngx_uint_t *nring)
{
    ngx_uint_t            i;
    ngx_http_sse_slot_t  *slot;

    for (i = 0; i < zone->sh->nslots; i++) {
        slot = &zone->sh->slots[i];

        if (slot->pid == 0 || slot->active == 0) {
            continue;
        }

        if (slot->next == NULL) {
            slot->next = first;
        }

        if (ngx_atomic_cmp_set(&slot->bell, 0, 1)) {
            ring[*nring].pid = slot->pid;
            ring[*nring].nonce = slot->nonce;
            (*nring)++;
        }
    }
}


/*
 * Removes a channel and its messages.  A marker goes through the pending
 * log, after whatever was published before it, and makes every worker end
 * the streams of the channel's subscribers.
 */

ngx_int_t
ngx_http_sse_store_delete(ngx_http_sse_zone_t *zone, ngx_str_t *name,
    uint64_t id, ngx_http_sse_info_t *info, ngx_log_t *log)
{
    ngx_uint_t               nring;
    ngx_http_sse_msg_t      *marker;
    ngx_http_sse_wakeup_t    ring[NGX_HTTP_SSE_MAX_SLOTS];
    ngx_http_sse_shctx_t    *sh;
    ngx_http_sse_channel_t  *ch;

    sh = zone->sh;
    nring = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (id) {
        /* with redis=: numbered by Redis, maybe applied already */
        if (id <= sh->last_id) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_DECLINED;
        }
    }

    ngx_http_sse_expire(zone);

    ch = ngx_http_sse_info_locked(zone, name, info);
    if (ch == NULL) {
        if (id) {
            sh->last_id = id;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    marker = NULL;

    if (ch->subscribers) {
        marker = ngx_slab_alloc_locked(zone->shpool,
                                       offsetof(ngx_http_sse_msg_t, text));
        if (marker == NULL) {
            if (id) {
                sh->last_id = id;
            }

            ngx_http_sse_log_full(zone, log);
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_ERROR;
        }

        ngx_memzero(marker, offsetof(ngx_http_sse_msg_t, text));
    }

    /* pinned: the last message going must not free it here */
    ch->refs++;

    ngx_rbtree_delete(&sh->rbtree, &ch->node);
    sh->channels--;
    ch->deleted = 1;

    if (ch->last_id > sh->forgotten_id) {
        sh->forgotten_id = ch->last_id;
    }

    while (!ngx_queue_empty(&ch->history)) {
        ngx_http_sse_msg_unhistory(zone,
                                   ngx_queue_data(ngx_queue_head(&ch->history),
                                                  ngx_http_sse_msg_t, chq));
    }

    if (id) {
        sh->last_id = id;
    }

    if (marker) {
        /* an id of its own, so that no cursor has passed it yet */
        marker->id = id ? id : ++sh->last_id;
        marker->channel = ch;
        marker->delete = 1;
        ch->refs++;

        ngx_queue_insert_tail(&sh->log, &marker->log);
        marker->in_log = 1;

        ngx_http_sse_ring_collect(zone, marker, ring, &nring);
    }

    ch->refs--;
    ngx_http_sse_channel_release(zone, ch);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (nring && zone->arrived) {
        zone->arrived(ring, nring, log);
    }

    return NGX_OK;
}


/*
 * NGX_OK; NGX_BUSY: sse_max_subscribers reached; NGX_ABORT: a new channel
 * would take the zone past its share for channels without messages;
 * NGX_DECLINED: the zone is full.
 */

ngx_int_t
ngx_http_sse_store_subscribe(ngx_http_sse_zone_t *zone, ngx_str_t *names,
    ngx_uint_t n, ngx_uint_t max_subscribers,
    ngx_http_sse_channel_t **channels, ngx_http_sse_since_t *since,
    uint64_t *start_id, ngx_log_t *log)
{
    ngx_int_t                rc;
    ngx_uint_t               i, got, counted;
    ngx_http_sse_slot_t     *slot;
    ngx_http_sse_shctx_t    *sh;
    ngx_http_sse_channel_t  *ch;

    sh = zone->sh;
    slot = zone->slot;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_sse_expire(zone);

    rc = NGX_OK;
    got = 0;
    counted = 0;

    /* find every channel first, pinned while the others are looked at */

    for (i = 0; i < n; i++) {
        if (ngx_http_sse_channel_room(zone, &names[i]) != NGX_OK) {
            ngx_http_sse_log_idle(zone, log);
            rc = NGX_ABORT;
            goto undo;
        }

        ch = ngx_http_sse_channel_get(zone, &names[i]);

        if (ch == NULL) {
            ngx_http_sse_log_full(zone, log);
            rc = NGX_DECLINED;
            goto undo;
        }

        ch->refs++;
        channels[got++] = ch;

        if (max_subscribers && ch->subscribers >= max_subscribers) {
            rc = NGX_BUSY;
            goto undo;
        }
    }

    for (i = 0; i < n; i++) {
        if (ngx_http_sse_chslot_add(zone, channels[i], zone->slot_index, 1)
            != NGX_OK)
        {
            ngx_http_sse_log_full(zone, log);
            rc = NGX_DECLINED;
            goto undo;
        }

        counted++;
    }

    for (i = 0; i < n; i++) {
        channels[i]->refs--;
        channels[i]->subscribers++;
    }

    sh->subscribers += n;

    if (zone->nlocal++ == 0) {
        slot->cursor = sh->last_id;
        slot->next = NULL;
    }

    slot->active = zone->nlocal;

    *start_id = sh->last_id;

    /* places in history only: ngx_http_sse_store_read() reads from them */

    ngx_http_sse_since(zone, channels, n, since);

    if (since->resume && since->last_id > *start_id && sh->behind) {
        /* a mirror not caught up yet: what the client has comes live */
        *start_id = since->last_id;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (zone->changed) {
        zone->changed(zone);
    }

    return NGX_OK;

undo:

    for (i = 0; i < counted; i++) {
        (void) ngx_http_sse_chslot_add(zone, channels[i], zone->slot_index, -1);
    }

    for (i = 0; i < got; i++) {
        channels[i]->refs--;
        ngx_http_sse_channel_release(zone, channels[i]);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


ngx_uint_t
ngx_http_sse_msg_visible(ngx_http_sse_msg_t *msg, ngx_str_t *user)
{
    if (msg->user_len == 0) {
        return 1;
    }

    return user != NULL
           && user->len == msg->user_len
           && ngx_memcmp(user->data, msg->text + msg->event_len,
                         msg->user_len) == 0;
}


/*
 * Where a new subscriber starts in history: with a Last-Event-ID, after it,
 * with an sse_gap first for every channel that dropped messages after it;
 * without one, at the last sse_replay messages of each channel.  Nothing is
 * read here: ngx_http_sse_store_read() reads on as the connection drains.
 */

static void
ngx_http_sse_since(ngx_http_sse_zone_t *zone, ngx_http_sse_channel_t **chs,
    ngx_uint_t n, ngx_http_sse_since_t *since)
{
    ngx_uint_t               i, count;
    ngx_queue_t             *q, *p;
    ngx_http_sse_msg_t      *msg;
    ngx_http_sse_hpos_t     *pos;
    ngx_http_sse_channel_t  *ch;

    since->catchup = 0;

    if (!since->resume && since->replay == 0) {
        return;
    }

    for (i = 0; i < n; i++) {
        ch = chs[i];
        pos = &since->pos[i];

        ngx_memzero(pos, sizeof(ngx_http_sse_hpos_t));

        if (since->resume) {
            pos->id = since->last_id;

            /* dropped after the client's id, or a zone that started anew */

            if (since->last_id < ch->dropped_id
                || (since->last_id > zone->sh->last_id
                    && !zone->sh->behind))
            {
                pos->gap_from = since->last_id;
                pos->gap_oldest = ngx_http_sse_oldest_id(zone, ch);

                if (ch->dropped_id > pos->id) {
                    pos->id = ch->dropped_id;
                }

                since->catchup = 1;
            }

            if (!ngx_queue_empty(&ch->history)) {
                msg = ngx_queue_data(ngx_queue_last(&ch->history),
                                     ngx_http_sse_msg_t, chq);

                if (msg->id > pos->id) {
                    since->catchup = 1;
                }
            }

            continue;
        }

        /* replay: from the head, or after the last N visible messages */

        pos->id = ch->dropped_id;

        if (ngx_queue_empty(&ch->history)) {
            continue;
        }

        since->catchup = 1;

        if (since->replay >= ch->messages) {
            continue;
        }

        count = 0;

        for (q = ngx_queue_last(&ch->history);
             q != ngx_queue_sentinel(&ch->history);
             q = ngx_queue_prev(q))
        {
            msg = ngx_queue_data(q, ngx_http_sse_msg_t, chq);

            if (ngx_http_sse_msg_visible(msg, since->user)
                && ++count == since->replay)
            {
                break;
            }
        }

        if (q == ngx_queue_sentinel(&ch->history)) {
            continue;
        }

        p = ngx_queue_prev(q);

        if (p != ngx_queue_sentinel(&ch->history)) {
            msg = ngx_queue_data(p, ngx_http_sse_msg_t, chq);
            pos->msg = msg;
            pos->msg_id = msg->id;
            pos->id = msg->id;
        }
    }
}


/* under the lock: the oldest id a channel still has, as sse_gap names it */

static uint64_t
ngx_http_sse_oldest_id(ngx_http_sse_zone_t *zone, ngx_http_sse_channel_t *ch)
{
    ngx_http_sse_msg_t  *msg;

    if (ngx_queue_empty(&ch->history)) {
        return zone->sh->last_id + 1;
    }

    msg = ngx_queue_data(ngx_queue_head(&ch->history), ngx_http_sse_msg_t,
                         chq);

    return msg->id;
}


/*
 * Under the lock: the first kept message of a channel after a subscriber's
 * place, or NULL.  Without a valid hint, the history is walked from the
 * nearer end; the message before the one found becomes the hint.
 */

static ngx_http_sse_msg_t *
ngx_http_sse_history_next(ngx_http_sse_channel_t *ch, ngx_http_sse_hpos_t *pos)
{
    ngx_queue_t         *q, *s;
    ngx_http_sse_msg_t  *head, *tail, *msg;

    s = ngx_queue_sentinel(&ch->history);

    if (pos->msg && pos->msg_id > ch->dropped_id) {
        q = ngx_queue_next(&pos->msg->chq);
        return (q == s) ? NULL : ngx_queue_data(q, ngx_http_sse_msg_t, chq);
    }

    pos->msg = NULL;

    if (ngx_queue_empty(&ch->history)) {
        return NULL;
    }

    head = ngx_queue_data(ngx_queue_head(&ch->history), ngx_http_sse_msg_t,
                          chq);
    tail = ngx_queue_data(ngx_queue_last(&ch->history), ngx_http_sse_msg_t,
                          chq);

    if (tail->id <= pos->id) {
        return NULL;
    }

    if (head->id > pos->id) {
        return head;
    }

    if (pos->id - head->id < tail->id - pos->id) {
        for (q = ngx_queue_next(&head->chq); q != s; q = ngx_queue_next(q)) {
            msg = ngx_queue_data(q, ngx_http_sse_msg_t, chq);

            if (msg->id > pos->id) {
                break;
            }
        }

    } else {
        for (q = &tail->chq; ngx_queue_prev(q) != s; q = ngx_queue_prev(q)) {
            msg = ngx_queue_data(ngx_queue_prev(q), ngx_http_sse_msg_t, chq);

            if (msg->id <= pos->id) {
                break;
            }
        }
    }

    /* head->id <= pos->id < tail->id: q is neither end of the queue */

    msg = ngx_queue_data(ngx_queue_prev(q), ngx_http_sse_msg_t, chq);
    pos->msg = msg;
    pos->msg_id = msg->id;

    return ngx_queue_data(q, ngx_http_sse_msg_t, chq);
}


/*
 * Reads the next part of a subscriber's history: the sse_gap events due,
 * then kept messages of its channels after its places, in id order, up to
 * hr->nitems items and about hr->budget bytes.  With messages read
 * (hr->reading), the caller formats them without the lock and then calls
 * ngx_http_sse_store_read_done(): until then, none of them is freed.
 * Places move only for gaps here; the caller moves them past what it used.
 */

ngx_int_t
ngx_http_sse_store_read(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **channels, ngx_http_sse_hpos_t *pos,
    ngx_uint_t n, ngx_http_sse_hread_t *hr)
{
    ngx_uint_t           i, k, more;
    ngx_http_sse_msg_t  *cur[NGX_HTTP_SSE_MAX_CHANNELS];

    k = 0;
    more = 0;

    hr->end = 0;
    hr->reading = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_sse_expire(zone);

    for (i = 0; i < n; i++) {
        if (ngx_http_sse_read_gap(zone, channels[i], &pos[i], i, hr, &k)
            != NGX_OK)
        {
            /* no room: sent by the next read, before any message */
            more = 1;
            cur[i] = NULL;
            continue;
        }

        cur[i] = ngx_http_sse_history_next(channels[i], &pos[i]);
    }

    k = ngx_http_sse_read_messages(cur, n, hr, k);

    for (i = 0; i < n; i++) {
        if (cur[i]) {
            break;
        }
    }

    if (i == n && !more) {
        hr->end = 1;
        hr->start_id = zone->sh->last_id;
    }

    for (i = 0; i < k; i++) {
        if (hr->items[i].msg) {
            if (zone->slot->reading == 0) {
                zone->slot->reading = zone->sh->retired + 1;
                zone->sh->nreading++;
            }

            hr->reading = 1;
            break;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    hr->nitems = k;

    return NGX_OK;
}


/*
 * The sse_gap due on one channel, as item *k of hr; NGX_DECLINED: one is
 * due, but hr has no room left.
 */

static ngx_int_t
ngx_http_sse_read_gap(ngx_http_sse_zone_t *zone, ngx_http_sse_channel_t *ch,
    ngx_http_sse_hpos_t *pos, ngx_uint_t channel, ngx_http_sse_hread_t *hr,
    ngx_uint_t *k)
{
    ngx_http_sse_hitem_t  *it;

    /*
     * Messages after its place left the history before it read them.
     * Checked even with a gap pending (a resume's, found when it
     * subscribed): more may have left since, and the gap must name the
     * oldest id kept now, from the place the client had.
     */

    if (!ch->deleted && ch->dropped_id > pos->id) {
        if (pos->gap_oldest == 0) {
            pos->gap_from = pos->id;
        }

        pos->gap_oldest = ngx_http_sse_oldest_id(zone, ch);
        pos->id = ch->dropped_id;
        pos->msg = NULL;
    }

    if (pos->gap_oldest == 0) {
        return NGX_OK;
    }

    if (*k == hr->nitems) {
        return NGX_DECLINED;
    }

    it = &hr->items[(*k)++];
    it->msg = NULL;
    it->channel = channel;
    it->id = pos->gap_oldest;
    it->from = pos->gap_from;
    it->visible = 1;

    pos->gap_oldest = 0;

    return NGX_OK;
}


/*
 * Kept messages from cur[] on (the next of each channel), oldest first,
 * into hr from item k on while there is room and budget; cur[] moves on.
 * Returns the number of items.
 */

static ngx_uint_t
ngx_http_sse_read_messages(ngx_http_sse_msg_t **cur, ngx_uint_t n,
    ngx_http_sse_hread_t *hr, ngx_uint_t k)
{
    size_t                 bytes;
    ngx_uint_t             i, j;
    ngx_queue_t           *q;
    ngx_http_sse_msg_t    *msg;
    ngx_http_sse_hitem_t  *it;

    bytes = 0;

    while (k < hr->nitems && bytes < hr->budget) {

        j = n;

        for (i = 0; i < n; i++) {
            if (cur[i] && (j == n || cur[i]->id < cur[j]->id)) {
                j = i;
            }
        }

        if (j == n) {
            break;
        }

        msg = cur[j];

        it = &hr->items[k++];
        it->msg = msg;
        it->channel = j;
        it->id = msg->id;
        it->from = 0;
        it->visible = ngx_http_sse_msg_visible(msg, hr->user);

        if (it->visible) {
            /* a guess: the frame adds "data: " to every line */
            bytes += sizeof("id: \nevent: \ndata: \n\n") - 1 + NGX_INT64_LEN
                     + msg->event_len + msg->data_len;
        }

        q = ngx_queue_next(&msg->chq);
        cur[j] = (q == ngx_queue_sentinel(&msg->channel->history))
                 ? NULL : ngx_queue_data(q, ngx_http_sse_msg_t, chq);
    }

    return k;
}


/* the messages ngx_http_sse_store_read() gave are no longer read */

void
ngx_http_sse_store_read_done(ngx_http_sse_zone_t *zone)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    if (zone->slot->reading) {
        zone->slot->reading = 0;
        zone->sh->nreading--;
        ngx_http_sse_limbo_sweep(zone);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


void
ngx_http_sse_store_unsubscribe(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **channels, ngx_uint_t n)
{
    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_http_sse_unsubscribe_locked(zone, channels, n);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (zone->changed) {
        zone->changed(zone);
    }
}


static void
ngx_http_sse_unsubscribe_locked(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t **channels, ngx_uint_t n)
{
    ngx_uint_t               i;
    ngx_http_sse_slot_t     *slot;
    ngx_http_sse_channel_t  *ch;

    slot = zone->slot;

    for (i = 0; i < n; i++) {
        ch = channels[i];

        (void) ngx_http_sse_chslot_add(zone, ch, zone->slot_index, -1);

        ch->subscribers--;
        zone->sh->subscribers--;

        ngx_http_sse_channel_release(zone, ch);
    }

    if (--zone->nlocal == 0) {
        slot->next = NULL;
    }

    slot->active = zone->nlocal;

    ngx_http_sse_gc(zone);
}


ngx_int_t
ngx_http_sse_store_info(ngx_http_sse_zone_t *zone, ngx_str_t *name,
    ngx_http_sse_info_t *info)
{
    ngx_http_sse_channel_t  *ch;

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_sse_expire(zone);

    ch = ngx_http_sse_info_locked(zone, name, info);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return ch ? NGX_OK : NGX_DECLINED;
}


/* under the lock: the channel and its figures, or NULL */

static ngx_http_sse_channel_t *
ngx_http_sse_info_locked(ngx_http_sse_zone_t *zone, ngx_str_t *name,
    ngx_http_sse_info_t *info)
{
    ngx_http_sse_channel_t  *ch;

    ch = ngx_http_sse_channel_lookup(zone->sh, name,
                                     ngx_crc32_short(name->data, name->len));
    if (ch == NULL) {
        return NULL;
    }

    info->channel = *name;
    info->subscribers = ch->subscribers;
    info->messages = ch->messages;
    info->last_id = ch->last_id;

    return ch;
}


/* every channel with subscribers on this server, copied into pool */

ngx_int_t
ngx_http_sse_store_counts(ngx_http_sse_zone_t *zone, ngx_pool_t *pool,
    ngx_array_t *counts)
{
    ngx_int_t                rc;
    ngx_rbtree_node_t       *node, *root, *sentinel;
    ngx_http_sse_info_t     *info;
    ngx_http_sse_channel_t  *ch;

    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    root = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);

    for ( /* void */ ; node; node = ngx_rbtree_next(&zone->sh->rbtree, node))
    {
        ch = (ngx_http_sse_channel_t *) node;

        if (ch->subscribers == 0) {
            continue;
        }

        info = ngx_array_push(counts);
        if (info == NULL) {
            rc = NGX_ERROR;
            break;
        }

        info->channel.data = ngx_pnalloc(pool, ch->len);
        if (info->channel.data == NULL) {
            rc = NGX_ERROR;
            break;
        }

        info->channel.len = ch->len;
        ngx_memcpy(info->channel.data, ch->name, ch->len);
        info->subscribers = ch->subscribers;
        info->messages = ch->messages;
        info->last_id = ch->last_id;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


uint64_t
ngx_http_sse_store_last_id(ngx_http_sse_zone_t *zone)
{
    uint64_t  id;

    ngx_shmtx_lock(&zone->shpool->mutex);
    id = zone->sh->last_id;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    return id;
}


/*
 * Under the lock, with redis=: the messages up to id are lost to this
 * server (the log no longer reaches back to what it holds, or Redis
 * restarted empty).  Which channels they were on is not known, so every
 * channel counts as having dropped them: a resume from before id gets an
 * sse_gap, and so does a stream that catches up.  What the history kept
 * from before the loss leaves it, so that the gap names the first id after
 * the loss as the oldest.  The marker, if given, goes to the pending log
 * (its id is the last one lost): live streams meet it there, in order, and
 * send their sse_gap (ngx_http_sse_stream_deliver).
 * NGX_DECLINED: the zone has had id already, nothing is lost.
 */

static ngx_int_t
ngx_http_sse_lost_locked(ngx_http_sse_zone_t *zone, uint64_t id,
    ngx_http_sse_msg_t *marker)
{
    ngx_queue_t             *q;
    ngx_rbtree_node_t       *node, *root, *sentinel;
    ngx_http_sse_msg_t      *msg;
    ngx_http_sse_shctx_t    *sh;
    ngx_http_sse_channel_t  *ch;

    sh = zone->sh;

    if (id <= sh->last_id) {
        return NGX_DECLINED;
    }

    while (!ngx_queue_empty(&sh->all)) {
        q = ngx_queue_head(&sh->all);
        msg = ngx_queue_data(q, ngx_http_sse_msg_t, all);

        if (msg->id > id) {
            break;
        }

        ngx_http_sse_msg_unhistory(zone, msg);
    }

    root = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);

    for ( /* void */ ; node; node = ngx_rbtree_next(&sh->rbtree, node)) {
        ch = (ngx_http_sse_channel_t *) node;

        if (ch->dropped_id < id) {
            ch->dropped_id = id;
        }
    }

    if (sh->forgotten_id < id) {
        sh->forgotten_id = id;
    }

    sh->last_id = id;

    if (marker) {
        marker->id = id;
        marker->lost = 1;

        ngx_queue_insert_tail(&sh->log, &marker->log);
        marker->in_log = 1;
    }

    return NGX_OK;
}


/* with redis=: a backend's count of what was lost to this server */

void
ngx_http_sse_store_count_lost(ngx_http_sse_zone_t *zone, uint64_t ids)
{
    (void) ngx_atomic_fetch_add(&zone->sh->losses, 1);
    (void) ngx_atomic_fetch_add(&zone->sh->lost_ids, ids);
}


/*
 * A worker takes a slot when it starts.  Slots of processes that are gone
 * (a worker killed with SIGKILL) are taken back, and their subscribers
 * are no longer counted.  A dead worker's pid reused by another process
 * that is not a worker of this zone keeps its slot until that process ends
 * or the pid comes to a worker.
 */

ngx_int_t
ngx_http_sse_store_claim_slot(ngx_http_sse_zone_t *zone, uint32_t nonce,
    ngx_log_t *log)
{
    ngx_uint_t            i, found, recovered;
    ngx_http_sse_slot_t  *slot;

    found = NGX_HTTP_SSE_MAX_SLOTS;
    recovered = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (i = 0; i < NGX_HTTP_SSE_MAX_SLOTS; i++) {
        slot = &zone->sh->slots[i];

        /*
         * A slot of this very pid is stale as well: a process claims once,
         * so it belonged to a dead worker whose pid was reused for this one
         * (kill() would say it lives, and the slot would never come back).
         */

        if (slot->pid
            && (slot->pid == ngx_pid
                || (kill(slot->pid, 0) == -1 && ngx_errno == NGX_ESRCH)))
        {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "sse_zone \"%V\": worker %P is gone, "
                          "its %ui subscribers are no longer counted",
                          &zone->name, slot->pid, slot->active);

            ngx_http_sse_slot_recover(zone, i);
            recovered = 1;
        }

        if (slot->pid == 0 && found == NGX_HTTP_SSE_MAX_SLOTS) {
            found = i;
        }
    }

    if (recovered) {
        /* what only a dead worker had not seen leaves the pending log */
        ngx_http_sse_gc(zone);
    }

    if (found == NGX_HTTP_SSE_MAX_SLOTS) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "sse_zone \"%V\": no free worker slot", &zone->name);
        return NGX_ERROR;
    }

    slot = &zone->sh->slots[found];

    ngx_memzero(slot, sizeof(ngx_http_sse_slot_t));
    slot->pid = ngx_pid;
    slot->cursor = zone->sh->last_id;
    slot->nonce = nonce;

    if (zone->sh->nslots <= found) {
        zone->sh->nslots = found + 1;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    zone->slot = slot;
    zone->slot_index = found;
    zone->nlocal = 0;

    return NGX_OK;
}


void
ngx_http_sse_store_release_slot(ngx_http_sse_zone_t *zone)
{
    if (zone->slot == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    ngx_http_sse_slot_recover(zone, zone->slot_index);
    ngx_http_sse_gc(zone);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    zone->slot = NULL;
}


/* forgets a slot and every subscriber counted for it */

static void
ngx_http_sse_slot_recover(ngx_http_sse_zone_t *zone, ngx_uint_t index)
{
    ngx_rbtree_node_t       *node, *next, *root, *sentinel;
    ngx_http_sse_slot_t     *slot;
    ngx_http_sse_shctx_t    *sh;
    ngx_http_sse_chslot_t   *cs, **pcs;
    ngx_http_sse_channel_t  *ch;

    slot = &zone->sh->slots[index];

    if (slot->active) {
        root = zone->sh->rbtree.root;
        sentinel = zone->sh->rbtree.sentinel;

        node = (root == sentinel) ? NULL : ngx_rbtree_min(root, sentinel);

        while (node) {
            next = ngx_rbtree_next(&zone->sh->rbtree, node);
            ch = (ngx_http_sse_channel_t *) node;

            for (pcs = &ch->slots; *pcs; pcs = &(*pcs)->next) {
                cs = *pcs;

                if (cs->slot == index) {
                    *pcs = cs->next;
                    ch->subscribers -= cs->count;
                    zone->sh->subscribers -= cs->count;
                    ngx_slab_free_locked(zone->shpool, cs);
                    ngx_http_sse_idle_chslot(zone, ch, -1);
                    ngx_http_sse_channel_release(zone, ch);
                    break;
                }
            }

            node = next;
        }
    }

    /* a worker killed while it read history holds nothing any more */

    if (slot->reading) {
        zone->sh->nreading--;
    }

    ngx_memzero(slot, sizeof(ngx_http_sse_slot_t));

    /* slots in use stay below nslots */

    sh = zone->sh;

    while (sh->nslots && sh->slots[sh->nslots - 1].pid == 0) {
        sh->nslots--;
    }

    ngx_http_sse_limbo_sweep(zone);
}


/*
 * The messages published since this worker's last wake-up: from its
 * slot's "next" to the newest in the log.  NGX_DECLINED: none.  They are
 * read without the lock: nothing after the slot's cursor is freed.
 */

ngx_int_t
ngx_http_sse_store_pending(ngx_http_sse_zone_t *zone,
    ngx_http_sse_pending_t *p)
{
    ngx_shmtx_lock(&zone->shpool->mutex);

    p->next = zone->slot->next;

    if (p->next) {
        p->last = ngx_queue_data(ngx_queue_last(&zone->sh->log),
                                 ngx_http_sse_msg_t, log);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return p->next ? NGX_OK : NGX_DECLINED;
}


/* the next pending message, or NGX_DONE */

ngx_int_t
ngx_http_sse_store_pending_next(ngx_http_sse_pending_t *p,
    ngx_http_sse_mview_t *m)
{
    ngx_http_sse_msg_t  *msg;

    msg = p->next;

    if (msg == NULL) {
        return NGX_DONE;
    }

    p->next = (msg == p->last)
              ? NULL
              : ngx_queue_data(ngx_queue_next(&msg->log), ngx_http_sse_msg_t,
                               log);

    ngx_http_sse_store_view(msg, m);

    return NGX_OK;
}


/* the pending messages up to p->last are handed out: the cursor moves */

void
ngx_http_sse_store_seen(ngx_http_sse_zone_t *zone, ngx_http_sse_pending_t *p)
{
    ngx_queue_t          *q;
    ngx_http_sse_msg_t   *last;
    ngx_http_sse_slot_t  *slot;

    slot = zone->slot;
    last = p->last;

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (slot->active == 0) {
        /* the last local subscriber left: the slot needs nothing */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    slot->cursor = last->id;

    q = ngx_queue_next(&last->log);
    slot->next = (q == ngx_queue_sentinel(&zone->sh->log))
                 ? NULL : ngx_queue_data(q, ngx_http_sse_msg_t, log);

    ngx_http_sse_gc(zone);

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * What a stream needs of a message (pending, or read from history under
 * ngx_http_sse_store_read()): its id, event, data and channel.
 */

void
ngx_http_sse_store_view(ngx_http_sse_msg_t *msg, ngx_http_sse_mview_t *m)
{
    m->msg = msg;
    m->channel = msg->channel;
    m->id = msg->id;
    m->event.data = msg->text;
    m->event.len = msg->event_len;
    m->data.data = msg->text + msg->event_len + msg->user_len;
    m->data.len = msg->data_len;
    m->delete = msg->delete;
    m->lost = msg->lost;
}


void
ngx_http_sse_store_channel_name(ngx_http_sse_channel_t *ch, ngx_str_t *name)
{
    name->data = ch->name;
    name->len = ch->len;
}


void
ngx_http_sse_store_delivered(ngx_http_sse_zone_t *zone, ngx_uint_t n)
{
    (void) ngx_atomic_fetch_add(&zone->sh->delivered, n);
}


/* the zone's figures, read under the lock (the counters without it) */

void
ngx_http_sse_store_stats(ngx_http_sse_zone_t *zone, ngx_http_sse_stats_t *st)
{
    ngx_uint_t             i;
    ngx_http_sse_shctx_t  *sh;

    sh = zone->sh;

    ngx_shmtx_lock(&zone->shpool->mutex);

    st->channels = sh->channels;
    st->subscribers = sh->subscribers;
    st->messages = sh->messages;
    st->used = zone->shm_zone->shm.size
               - zone->shpool->pfree * ngx_pagesize;

    st->workers = 0;

    for (i = 0; i < sh->nslots; i++) {
        if (sh->slots[i].pid) {
            st->workers++;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    st->published = sh->published;
    st->delivered = sh->delivered;
    st->losses = sh->losses;
    st->lost_ids = sh->lost_ids;
    st->size = zone->shm_zone->shm.size;
}


/* the smallest zone: its root (the worker slots) and a few pages */

size_t
ngx_http_sse_store_min_size(void)
{
    return sizeof(ngx_http_sse_shctx_t) + 8 * ngx_pagesize;
}


/* names this server (its subscriber counts in Redis); kept on reload */

uint64_t
ngx_http_sse_store_server_id(ngx_http_sse_zone_t *zone)
{
    return zone->sh->server_id;
}


/*
 * A backend that mirrors its log into the zone says whether the mirror may
 * lack ids the log has (it has not read the log to its end yet): a resume
 * from such an id then starts live after it instead of with an sse_gap.
 */

void
ngx_http_sse_store_set_behind(ngx_http_sse_zone_t *zone, ngx_uint_t behind)
{
    zone->sh->behind = behind;
}


/*
 * One worker of the server reports its counts to a backend at a time:
 * whether interval has passed since the last report, and if so, this
 * worker's turn, taken atomically (no lock).
 */

ngx_uint_t
ngx_http_sse_store_sync_due(ngx_http_sse_zone_t *zone, ngx_msec_t interval)
{
    ngx_msec_t         now;
    ngx_atomic_uint_t  old;

    now = ngx_current_msec;
    old = zone->sh->synced;

    return (ngx_msec_int_t) (now - (ngx_msec_t) old)
           >= (ngx_msec_int_t) interval
           && ngx_atomic_cmp_set(&zone->sh->synced, old, now);
}


/* the counts were reported now */

void
ngx_http_sse_store_synced(ngx_http_sse_zone_t *zone)
{
    zone->sh->synced = ngx_current_msec;
}


/*
 * A wake-up came: this worker's bell is cleared before it reads the log,
 * so a publish after this rings again.  NGX_DECLINED: no slot here.
 */

ngx_int_t
ngx_http_sse_store_answer_bell(ngx_http_sse_zone_t *zone)
{
    if (zone->slot == NULL) {
        return NGX_DECLINED;
    }

    (void) ngx_atomic_cmp_set(&zone->slot->bell, 1, 0);

    return NGX_OK;
}


/*
 * Channels without messages: a subscriber creates one with a name of its
 * choice, so they may take at most half of the zone (of its pages for
 * channels and messages, the zone less its root) and the other half is
 * left to messages and the channels that hold them: publishers are never
 * refused because of subscribers.  sh->idle_size is what the slab
 * pool gave to the records of such channels and to their per-worker
 * counts; a channel moves out of it with its first kept message and back
 * in when its last one goes (expiry, DELETE).
 */

static size_t
ngx_http_sse_slab_size(ngx_slab_pool_t *pool, size_t size)
{
    size_t  s;

    /* whole pages beyond half a page, a power of two below */

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (s = pool->min_size; s < size; s <<= 1) { /* void */ }

    return s;
}


/*
 * A channel comes into the count (delta 1: created, or its last kept
 * message went) or leaves it (-1: its first message, or freed), with its
 * record and its per-worker subscriber counts.
 */

static void
ngx_http_sse_idle_channel(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch, ngx_int_t delta)
{
    size_t                  size;
    ngx_http_sse_chslot_t  *cs;

    size = ngx_http_sse_slab_size(zone->shpool,
                                  offsetof(ngx_http_sse_channel_t, name)
                                  + ch->len);

    for (cs = ch->slots; cs; cs = cs->next) {
        size += ngx_http_sse_slab_size(zone->shpool,
                                       sizeof(ngx_http_sse_chslot_t));
    }

    if (delta > 0) {
        ngx_http_sse_idle_add(zone, size);

    } else {
        ngx_http_sse_idle_sub(zone, size);
    }
}


static void
ngx_http_sse_idle_add(ngx_http_sse_zone_t *zone, size_t size)
{
    zone->sh->idle_size += size;
}


static void
ngx_http_sse_idle_sub(ngx_http_sse_zone_t *zone, size_t size)
{
    if (size > zone->sh->idle_size) {
        ngx_log_error(NGX_LOG_ALERT, ngx_cycle->log, 0,
                      "sse_zone \"%V\": channels without messages "
                      "counted as %uz bytes, %uz going",
                      &zone->name, zone->sh->idle_size, size);
        zone->sh->idle_size = 0;
        return;
    }

    zone->sh->idle_size -= size;
}


/* a per-worker subscriber count was added to a channel or taken from it */

static void
ngx_http_sse_idle_chslot(ngx_http_sse_zone_t *zone,
    ngx_http_sse_channel_t *ch, ngx_int_t delta)
{
    size_t  size;

    if (ch->messages) {
        return;
    }

    size = ngx_http_sse_slab_size(zone->shpool,
                                  sizeof(ngx_http_sse_chslot_t));

    if (delta > 0) {
        ngx_http_sse_idle_add(zone, size);

    } else {
        ngx_http_sse_idle_sub(zone, size);
    }
}


/* under the lock: NGX_DECLINED when a new channel name would not fit */

static ngx_int_t
ngx_http_sse_channel_room(ngx_http_sse_zone_t *zone, ngx_str_t *name)
{
    size_t  size, max;

    if (ngx_http_sse_channel_lookup(zone->sh, name,
                                    ngx_crc32_short(name->data, name->len)))
    {
        return NGX_OK;
    }

    /* the record, and this worker's count of its subscribers */

    size = ngx_http_sse_slab_size(zone->shpool,
                                  offsetof(ngx_http_sse_channel_t, name)
                                  + name->len)
           + ngx_http_sse_slab_size(zone->shpool,
                                    sizeof(ngx_http_sse_chslot_t));

    /* half of the pages for channels and messages: the zone less its root */

    max = (zone->shpool->end - zone->shpool->start
           - ngx_http_sse_slab_size(zone->shpool,
                                    sizeof(ngx_http_sse_shctx_t)))
          / 2;

    if (zone->sh->idle_size + size > max) {
        ngx_log_debug4(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "sse: no room for channel \"%V\": %uz + %uz > %uz",
                       name, zone->sh->idle_size, size, max);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_http_sse_log_idle(ngx_http_sse_zone_t *zone, ngx_log_t *log)
{
    if (zone->sh->idle_logged + 60 > ngx_time()) {
        return;
    }

    zone->sh->idle_logged = ngx_time();

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "sse_zone \"%V\": channels without messages fill half of "
                  "the zone: subscriptions that would create a channel are "
                  "refused with 503 (logged at most once a minute)",
                  &zone->name);
}
