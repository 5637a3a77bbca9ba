-- Mail attributes in PostgreSQL (coi-dict-pgsql.conf.ext). Dovecot
-- writes with INSERT ... ON CONFLICT on the columns of a map's fields and
-- username_field: the primary keys must be exactly those.
CREATE TABLE mail_attribute_private (
  username     TEXT NOT NULL,
  mailbox_guid VARCHAR(32) NOT NULL,
  attribute    TEXT NOT NULL,
  value        TEXT NOT NULL,
  PRIMARY KEY (username, mailbox_guid, attribute)
);

CREATE TABLE mail_attribute_shared (
  mailbox_guid VARCHAR(32) NOT NULL,
  attribute    TEXT NOT NULL,
  value        TEXT NOT NULL,
  PRIMARY KEY (mailbox_guid, attribute)
);
