-- The enablement portal's content library: content items (one or more
-- files each) with a lifecycle draft -> approved -> deprecated, an expiry
-- that a nightly job turns into `expired` (telling the owner), and a
-- metadata hierarchy (product suite -> concept ...) that tags items and
-- courses and filters both.

CREATE TABLE metadata_terms (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    -- The level or facet a term belongs to (`product_suite`, `concept`, ...).
    group_key   text NOT NULL,
    -- Terms under a parent share its customer (checked when written).
    parent_id   uuid REFERENCES metadata_terms(id) ON DELETE RESTRICT,
    name        text NOT NULL,
    sort_order  integer NOT NULL DEFAULT 0,
    -- `#rrggbb`
    color       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
-- Siblings have distinct names (case-insensitive) within a group.
CREATE UNIQUE INDEX metadata_terms_name_idx ON metadata_terms
    (customer_id, group_key, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid), lower(name));
CREATE INDEX metadata_terms_parent_idx ON metadata_terms (parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE content_items (
    id            uuid PRIMARY KEY,
    customer_id   uuid NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    status        text NOT NULL DEFAULT 'draft'
                  CHECK (status IN ('draft', 'approved', 'deprecated', 'expired')),
    title         text NOT NULL,
    description   text NOT NULL DEFAULT '',
    -- Told when the item expires; the creator unless set.
    owner_id      uuid REFERENCES users(id) ON DELETE SET NULL,
    expires_at    timestamptz,
    created_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    approved_by   uuid REFERENCES users(id) ON DELETE SET NULL,
    approved_at   timestamptz,
    deprecated_at timestamptz,
    expired_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX content_items_customer_idx ON content_items (customer_id, created_at DESC, id DESC);
-- The nightly expiry scan.
CREATE INDEX content_items_expiry_idx ON content_items (expires_at)
    WHERE status IN ('draft', 'approved') AND expires_at IS NOT NULL;

CREATE TABLE content_item_files (
    item_id  uuid NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    file_id  uuid NOT NULL REFERENCES files(id),
    position integer NOT NULL,
    PRIMARY KEY (item_id, file_id)
);
CREATE INDEX content_item_files_file_idx ON content_item_files (file_id);

CREATE TABLE content_item_terms (
    item_id uuid NOT NULL REFERENCES content_items(id) ON DELETE CASCADE,
    term_id uuid NOT NULL REFERENCES metadata_terms(id) ON DELETE CASCADE,
    PRIMARY KEY (item_id, term_id)
);
CREATE INDEX content_item_terms_term_idx ON content_item_terms (term_id);

CREATE TABLE course_terms (
    course_id uuid NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
    term_id   uuid NOT NULL REFERENCES metadata_terms(id) ON DELETE CASCADE,
    PRIMARY KEY (course_id, term_id)
);
CREATE INDEX course_terms_term_idx ON course_terms (term_id);
