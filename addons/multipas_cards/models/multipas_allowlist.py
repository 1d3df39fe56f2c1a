"""The allow-list that devices pull: what each school's boxes know about cards.

One row per (school, UID) that a school's devices must know about, with a
cursor ``seq`` taken from one PostgreSQL sequence whenever anything the box
shows or decides on changes: the card's UID, state, school, holder or number,
the holder's name, class, kind, status or archiving. A device asks for the
rows of its school after its last cursor.

Rows are kept by (school, UID), not by card, because the box knows UIDs: when
a card moves to another school or its UID is corrected, the old (school, UID)
row stays, points to the card, gets a new cursor and reads as "not allowed".
A retired card's row says "retired" until another card takes that UID.

Triggers keep the rows, so every way of writing (ORM, wizards, raw SQL of
other addons, the erasure of a leaver's name) moves the cursor. Within one
school the cursors are handed out in commit order: a writer takes a
transaction-level advisory lock on each school it touches before drawing from
the sequence, so a device can never read cursor N+1 while N is still
uncommitted and then skip it.
"""

from odoo import api, models
from odoo.tools import SQL

ALLOWLIST_SQL = """
CREATE SEQUENCE IF NOT EXISTS multipas_allowlist_seq;

CREATE TABLE IF NOT EXISTS multipas_allowlist_entry (
    school_id integer NOT NULL REFERENCES multipas_school (id) ON DELETE CASCADE,
    uid varchar NOT NULL,
    card_id integer REFERENCES multipas_card (id) ON DELETE SET NULL,
    seq bigint NOT NULL,
    PRIMARY KEY (school_id, uid)
);
CREATE INDEX IF NOT EXISTS multipas_allowlist_entry_school_seq
    ON multipas_allowlist_entry (school_id, seq);
CREATE INDEX IF NOT EXISTS multipas_allowlist_entry_card
    ON multipas_allowlist_entry (card_id);

-- Take the allow-list locks of these schools, in id order (no deadlock
-- between two writers touching the same schools).
CREATE OR REPLACE FUNCTION multipas_allowlist_lock(school_ids integer[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    sid integer;
BEGIN
    FOR sid IN SELECT DISTINCT s FROM unnest(school_ids) s WHERE s IS NOT NULL ORDER BY 1 LOOP
        -- pg_advisory_xact_lock(key, school): 1297105228 = 0x4D50414C, "MPAL".
        PERFORM pg_advisory_xact_lock(1297105228, sid);
    END LOOP;
END $$;

-- New cursor for every row of these cards (holder or class data changed).
CREATE OR REPLACE FUNCTION multipas_allowlist_bump_cards(card_ids integer[])
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF card_ids IS NULL OR cardinality(card_ids) = 0 THEN
        RETURN;
    END IF;
    PERFORM multipas_allowlist_lock(ARRAY(
        SELECT school_id FROM multipas_allowlist_entry WHERE card_id = ANY(card_ids)));
    UPDATE multipas_allowlist_entry
       SET seq = nextval('multipas_allowlist_seq')
     WHERE card_id = ANY(card_ids);
END $$;

CREATE OR REPLACE FUNCTION multipas_allowlist_card_changed()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM multipas_allowlist_bump_cards(ARRAY[OLD.id]);
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF OLD.uid IS NOT DISTINCT FROM NEW.uid
           AND OLD.state IS NOT DISTINCT FROM NEW.state
           AND OLD.school_id IS NOT DISTINCT FROM NEW.school_id
           AND OLD.holder_id IS NOT DISTINCT FROM NEW.holder_id
           AND OLD.number IS NOT DISTINCT FROM NEW.number THEN
            RETURN NEW;
        END IF;
        PERFORM multipas_allowlist_lock(ARRAY[OLD.school_id, NEW.school_id]);
        -- The row the card leaves (other school or corrected UID) now reads
        -- "not allowed"; it still points to the card, which tells why.
        IF OLD.uid IS NOT NULL AND (OLD.school_id IS DISTINCT FROM NEW.school_id
                                    OR OLD.uid IS DISTINCT FROM NEW.uid) THEN
            UPDATE multipas_allowlist_entry
               SET seq = nextval('multipas_allowlist_seq')
             WHERE school_id = OLD.school_id AND uid = OLD.uid AND card_id = NEW.id;
        END IF;
    ELSE
        PERFORM multipas_allowlist_lock(ARRAY[NEW.school_id]);
    END IF;
    IF NEW.uid IS NULL THEN
        -- A card of a draft batch not encoded yet: no box can read it.
        RETURN NEW;
    ELSIF NEW.state = 'retired' THEN
        -- A retired card frees its UID: it keeps its row only while no other
        -- card has taken that UID.
        UPDATE multipas_allowlist_entry
           SET seq = nextval('multipas_allowlist_seq')
         WHERE school_id = NEW.school_id AND uid = NEW.uid AND card_id = NEW.id;
    ELSE
        INSERT INTO multipas_allowlist_entry (school_id, uid, card_id, seq)
        VALUES (NEW.school_id, NEW.uid, NEW.id, nextval('multipas_allowlist_seq'))
        ON CONFLICT (school_id, uid)
        DO UPDATE SET card_id = EXCLUDED.card_id, seq = EXCLUDED.seq;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION multipas_allowlist_holder_changed()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM multipas_allowlist_bump_cards(ARRAY(
        SELECT id FROM multipas_card WHERE holder_id = NEW.id));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION multipas_allowlist_partner_changed()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM multipas_allowlist_bump_cards(ARRAY(
        SELECT c.id FROM multipas_card c
          JOIN multipas_cardholder h ON h.id = c.holder_id
         WHERE h.partner_id = NEW.id));
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION multipas_allowlist_class_changed()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM multipas_allowlist_bump_cards(ARRAY(
        SELECT c.id FROM multipas_card c
          JOIN multipas_cardholder h ON h.id = c.holder_id
         WHERE h.class_id = NEW.id));
    RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS multipas_allowlist_card ON multipas_card;
CREATE TRIGGER multipas_allowlist_card
    AFTER INSERT OR UPDATE ON multipas_card
    FOR EACH ROW EXECUTE FUNCTION multipas_allowlist_card_changed();
-- Before the delete: afterwards the foreign key has already emptied card_id.
DROP TRIGGER IF EXISTS multipas_allowlist_card_delete ON multipas_card;
CREATE TRIGGER multipas_allowlist_card_delete
    BEFORE DELETE ON multipas_card
    FOR EACH ROW EXECUTE FUNCTION multipas_allowlist_card_changed();

DROP TRIGGER IF EXISTS multipas_allowlist_holder ON multipas_cardholder;
CREATE TRIGGER multipas_allowlist_holder
    AFTER UPDATE OF class_id, state, kind, school_id, partner_id ON multipas_cardholder
    FOR EACH ROW
    WHEN (OLD.class_id IS DISTINCT FROM NEW.class_id
          OR OLD.state IS DISTINCT FROM NEW.state
          OR OLD.kind IS DISTINCT FROM NEW.kind
          OR OLD.school_id IS DISTINCT FROM NEW.school_id
          OR OLD.partner_id IS DISTINCT FROM NEW.partner_id)
    EXECUTE FUNCTION multipas_allowlist_holder_changed();

DROP TRIGGER IF EXISTS multipas_allowlist_partner ON res_partner;
CREATE TRIGGER multipas_allowlist_partner
    AFTER UPDATE OF name, active ON res_partner
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION multipas_allowlist_partner_changed();

DROP TRIGGER IF EXISTS multipas_allowlist_class ON multipas_class;
CREATE TRIGGER multipas_allowlist_class
    AFTER UPDATE OF name ON multipas_class
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name)
    EXECUTE FUNCTION multipas_allowlist_class_changed();
"""

# Cards already in the database when the table is created (module update).
BACKFILL_SQL = """
INSERT INTO multipas_allowlist_entry (school_id, uid, card_id, seq)
SELECT school_id, uid, id, nextval('multipas_allowlist_seq')
  FROM multipas_card
 WHERE state != 'retired'
 ORDER BY id
ON CONFLICT (school_id, uid) DO NOTHING
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS multipas_allowlist_partner ON res_partner;
DROP TABLE IF EXISTS multipas_allowlist_entry;
DROP SEQUENCE IF EXISTS multipas_allowlist_seq;
DROP FUNCTION IF EXISTS multipas_allowlist_card_changed() CASCADE;
DROP FUNCTION IF EXISTS multipas_allowlist_holder_changed() CASCADE;
DROP FUNCTION IF EXISTS multipas_allowlist_partner_changed() CASCADE;
DROP FUNCTION IF EXISTS multipas_allowlist_class_changed() CASCADE;
DROP FUNCTION IF EXISTS multipas_allowlist_bump_cards(integer[]);
DROP FUNCTION IF EXISTS multipas_allowlist_lock(integer[]);
"""

# Why a card is refused, in the words of the device API.
REASON_BLOCKED = "blocked"
REASON_RETIRED = "retired"
REASON_NOT_ISSUED = "not_issued"
REASON_LEFT = "left"


def card_decision(school_id, uid, card):
    """Return ``(allow, reason)`` for the UID ``uid`` at school ``school_id``.

    ``card`` is a dict with the keys ``school_id``, ``uid``, ``state``,
    ``holder_state`` and ``holder_active`` (None when no card holds the row).
    """
    if not card or card["uid"] != uid or card["state"] == "retired":
        return False, REASON_RETIRED
    if card["school_id"] != school_id:
        return False, REASON_LEFT
    if card["state"] == "blocked":
        return False, REASON_BLOCKED
    if card["state"] != "issued" or not card["holder_state"]:
        return False, REASON_NOT_ISSUED
    if card["holder_state"] != "enrolled" or not card["holder_active"]:
        return False, REASON_LEFT
    return True, None


class MultipasAllowlist(models.AbstractModel):
    """Reads and maintains the device allow-list (see the module docstring)."""

    _name = "multipas.allowlist"
    _description = "Device allow-list"

    def init(self):
        cr = self.env.cr
        cr.execute(SQL("SELECT to_regclass('multipas_allowlist_entry') IS NULL"))
        created = cr.fetchone()[0]
        cr.execute(SQL(ALLOWLIST_SQL))
        if created:
            cr.execute(SQL(BACKFILL_SQL))

    def _drop_sql_objects(self):
        """Called by the uninstall hook: the partner trigger would outlive us."""
        self.env.cr.execute(SQL(DROP_SQL))

    @api.model
    def _version(self, school):
        """The cursor of the latest change of ``school``'s allow-list (0: none)."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "SELECT COALESCE(max(seq), 0) FROM multipas_allowlist_entry WHERE school_id = %s",
                school.id,
            )
        )
        return self.env.cr.fetchone()[0]

    @api.model
    def _is_known_cursor(self, cursor):
        """Whether the sequence ever reached ``cursor`` (a restored database or
        another server would give the box a cursor from the future)."""
        self.env.cr.execute(
            SQL("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM multipas_allowlist_seq")
        )
        return cursor <= self.env.cr.fetchone()[0]

    @api.model
    def _page(self, school, since, limit):
        """The rows of ``school`` after cursor ``since``, oldest change first.

        Returns ``(rows, more)``: at most ``limit`` dicts with ``seq``,
        ``uid``, ``allow``, ``reason``, ``number`` and ``holder`` (a dict, or
        None when the card is refused), and whether more rows follow.
        """
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT e.seq, e.uid, c.id, c.school_id, c.uid, c.state, c.number,
                       h.state, h.kind, p.active, p.name, cl.name
                  FROM multipas_allowlist_entry e
             LEFT JOIN multipas_card c ON c.id = e.card_id
             LEFT JOIN multipas_cardholder h ON h.id = c.holder_id
             LEFT JOIN res_partner p ON p.id = h.partner_id
             LEFT JOIN multipas_class cl ON cl.id = h.class_id
                 WHERE e.school_id = %s AND e.seq > %s
              ORDER BY e.seq
                 LIMIT %s
                """,
                school.id,
                since,
                limit + 1,
            )
        )
        fetched = self.env.cr.fetchall()
        rows = []
        for row in fetched[:limit]:
            (seq, uid, card_id, card_school, card_uid, state, number) = row[:7]
            holder_state, kind, holder_active, name, class_name = row[7:]
            card = card_id and {
                "school_id": card_school,
                "uid": card_uid,
                "state": state,
                "holder_state": holder_state,
                "holder_active": holder_active,
            }
            allow, reason = card_decision(school.id, uid, card)
            rows.append(
                {
                    "seq": seq,
                    "uid": uid,
                    "allow": allow,
                    "reason": reason,
                    "number": number if card_id else None,
                    "holder": {"name": name, "class": class_name or None, "kind": kind}
                    if allow
                    else None,
                }
            )
        return rows, len(fetched) > limit
