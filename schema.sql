-- fieldapp schema: the only DDL. Applied to a new database by fieldapp.db, which sets
-- PRAGMA user_version to fieldapp.db.SCHEMA_VERSION and migrates older files.
--
-- Current tables hold, per record, the winning version (SPEC §4): envelope columns
-- (id, version_id, hlc, device_id, deleted) + the payload's fields (lists and maps as JSON).
-- A deleted record stays with deleted = 1: nothing is ever physically removed.

-- ------------------------------------------------------------ this device
CREATE TABLE device (
    singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
    role           TEXT NOT NULL CHECK (role IN ('device', 'district')),
    device_id      TEXT NOT NULL,
    label          TEXT NOT NULL,
    worker         TEXT,
    street_code    TEXT,
    community_code TEXT,
    hlc_last       TEXT NOT NULL DEFAULT '0000000000000-00000',
    created_at     TEXT NOT NULL
);

-- ------------------------------------------------------------ versions (append-only)
CREATE TABLE versions (
    seq               INTEGER PRIMARY KEY,          -- local arrival order (export "since last")
    version_id        TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL,
    record_id         TEXT NOT NULL,
    parent_version_id TEXT,
    hlc               TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    deleted           INTEGER NOT NULL CHECK (deleted IN (0, 1)),
    content_hash      TEXT NOT NULL,
    payload           TEXT NOT NULL,                -- JSON, exactly as hashed
    origin            TEXT NOT NULL DEFAULT 'local', -- 'local' or the bundle_id it came in
    -- schema version 4 (SPEC §4 v2)
    also_parents      TEXT NOT NULL DEFAULT '[]',   -- JSON list of the other parents (resolutions)
    payload_schema    INTEGER NOT NULL DEFAULT 1,   -- 1: written before v2 (kept for ever), 2
    saved_at          TEXT                          -- local wall-clock time of a local save (ISO,
                                                    -- with offset); NULL when received; never exported
);
CREATE INDEX versions_record ON versions (record_id);

CREATE TRIGGER versions_no_update BEFORE UPDATE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are append-only'); END;
CREATE TRIGGER versions_no_delete BEFORE DELETE ON versions
BEGIN SELECT RAISE(ABORT, 'versions are append-only'); END;

-- ------------------------------------------------------------ current tables
CREATE TABLE elder (
    id                         TEXT PRIMARY KEY,
    version_id                 TEXT NOT NULL,
    hlc                        TEXT NOT NULL,
    device_id                  TEXT NOT NULL,
    deleted                    INTEGER NOT NULL DEFAULT 0,
    name                       TEXT NOT NULL,
    name_initials              TEXT NOT NULL DEFAULT '',  -- pinyin initials, for search (zsf)
    id_number                  TEXT,
    id_missing_reason          TEXT,
    gender                     TEXT NOT NULL,
    birth_date                 TEXT NOT NULL,
    phone                      TEXT,
    address                    TEXT NOT NULL,
    community_code             TEXT NOT NULL,
    living_status              TEXT NOT NULL,
    hardship_tags              TEXT NOT NULL DEFAULT '[]',
    visit_risk                 TEXT NOT NULL,
    status                     TEXT NOT NULL,
    emergency_contact_name     TEXT,
    emergency_contact_phone    TEXT,
    emergency_contact_relation TEXT,
    consent                    TEXT NOT NULL,
    notes                      TEXT,
    status_date                TEXT,             -- schema 4: required by payload schema 2 when not active
    moved_to                   TEXT,
    merged_into                TEXT,
    under_60_confirmed         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX elder_community ON elder (community_code, status, deleted, birth_date);
CREATE INDEX elder_name ON elder (name);
CREATE INDEX elder_id_number ON elder (id_number);
-- search as you type: a scan of this narrow index instead of the wide rows. It must not start with
-- deleted or status: the planner would then take it for equality lookups (by ID number in the merge)
-- and scan every elder each time
CREATE INDEX elder_search ON elder (name, name_initials, id_number, deleted, status, community_code);

CREATE TABLE home_visit (
    id              TEXT PRIMARY KEY,
    version_id      TEXT NOT NULL,
    hlc             TEXT NOT NULL,
    device_id       TEXT NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0,
    elder_id        TEXT NOT NULL,
    visit_date      TEXT NOT NULL,
    start_time      TEXT,
    end_time        TEXT,
    duration_min    INTEGER NOT NULL,
    service_type    TEXT NOT NULL,
    service_items   TEXT NOT NULL DEFAULT '[]',
    contact_mode    TEXT NOT NULL,
    funding         TEXT NOT NULL,
    worker          TEXT NOT NULL,
    elder_condition TEXT NOT NULL,
    issues          TEXT NOT NULL DEFAULT '[]',
    referral        TEXT,
    satisfaction    INTEGER,
    notes           TEXT,
    community_code  TEXT NOT NULL               -- schema 4: the elder's community when made
) WITHOUT ROWID;
-- due list (last visit per elder, covering) and an elder's history
CREATE INDEX home_visit_elder ON home_visit (elder_id, visit_date, contact_mode, deleted);
-- coverage of a year: covering, so the report never reads the rows
CREATE INDEX home_visit_date ON home_visit (visit_date, contact_mode, deleted, elder_id);
-- coverage of a year (fieldapp.indicators.covered): covering, and in the order it groups by
-- (community, person), so the year's in-person visits are read once and never sorted (schema 5:
-- it replaces home_visit_community, which made the report sort them: 0.57 s → 0.07 s at scale 1)
CREATE INDEX home_visit_coverage ON home_visit (contact_mode, deleted, community_code, elder_id, visit_date);

CREATE TABLE assessment (
    id                      TEXT PRIMARY KEY,
    version_id              TEXT NOT NULL,
    hlc                     TEXT NOT NULL,
    device_id               TEXT NOT NULL,
    deleted                 INTEGER NOT NULL DEFAULT 0,
    elder_id                TEXT NOT NULL,
    assess_date             TEXT NOT NULL,
    reason                  TEXT NOT NULL,
    assessors               TEXT NOT NULL,
    score_self_care         INTEGER NOT NULL,
    score_mobility          INTEGER NOT NULL,
    score_mental            INTEGER NOT NULL,
    score_perception_social INTEGER NOT NULL,
    total                   INTEGER NOT NULL,
    coma                    INTEGER NOT NULL DEFAULT 0,
    dementia_dx             INTEGER NOT NULL DEFAULT 0,
    risk_events_30d         INTEGER NOT NULL DEFAULT 0,
    level                   TEXT NOT NULL,
    level_computed          TEXT NOT NULL,            -- derived: what the bands and rules give
    override_reason         TEXT,
    next_due                TEXT NOT NULL,
    community_code          TEXT NOT NULL     -- schema 4: the elder's community when made
) WITHOUT ROWID;
CREATE INDEX assessment_elder ON assessment (elder_id, assess_date);

CREATE TABLE retrofit (
    id           TEXT PRIMARY KEY,
    version_id   TEXT NOT NULL,
    hlc          TEXT NOT NULL,
    device_id    TEXT NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    elder_id     TEXT NOT NULL,
    project_year INTEGER NOT NULL,
    funding_type TEXT NOT NULL,
    status       TEXT NOT NULL,
    apply_date   TEXT,
    assess_date  TEXT,
    start_date   TEXT,
    accept_date  TEXT,
    contractor   TEXT,
    items        TEXT NOT NULL DEFAULT '[]',
    cost_total   REAL NOT NULL DEFAULT 0,
    subsidy      REAL NOT NULL DEFAULT 0,
    self_paid    REAL NOT NULL DEFAULT 0,
    notes        TEXT,
    community_code TEXT NOT NULL             -- schema 4: the elder's community when made
) WITHOUT ROWID;
CREATE INDEX retrofit_elder ON retrofit (elder_id);
CREATE INDEX retrofit_status ON retrofit (status, accept_date);

-- the items of the winning retrofit version, one row each (rewritten with the record)
CREATE TABLE retrofit_line (
    retrofit_id TEXT NOT NULL,
    line_no     INTEGER NOT NULL,
    code        TEXT NOT NULL,
    qty         REAL NOT NULL,
    unit_price  REAL NOT NULL,
    PRIMARY KEY (retrofit_id, line_no)
) WITHOUT ROWID;
CREATE INDEX retrofit_line_code ON retrofit_line (code);

CREATE TABLE meal_point (
    id             TEXT PRIMARY KEY,
    version_id     TEXT NOT NULL,
    hlc            TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    deleted        INTEGER NOT NULL DEFAULT 0,
    name           TEXT NOT NULL,
    community_code TEXT NOT NULL,
    kind           TEXT NOT NULL,
    modes          TEXT NOT NULL,
    capacity_daily INTEGER NOT NULL,
    status         TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX meal_point_community ON meal_point (community_code);

CREATE TABLE meal_count (
    id               TEXT PRIMARY KEY,
    version_id       TEXT NOT NULL,
    hlc              TEXT NOT NULL,
    device_id        TEXT NOT NULL,
    deleted          INTEGER NOT NULL DEFAULT 0,
    point_id         TEXT NOT NULL,
    service_date     TEXT NOT NULL,
    meal             TEXT NOT NULL,
    dine_in          INTEGER NOT NULL DEFAULT 0,
    delivery         INTEGER NOT NULL DEFAULT 0,
    pickup           INTEGER NOT NULL DEFAULT 0,
    subsidized       TEXT NOT NULL DEFAULT '{}',
    total            INTEGER NOT NULL,            -- derived: dine_in + delivery + pickup
    subsidized_total INTEGER NOT NULL DEFAULT 0,  -- derived: Σ subsidized
    notes            TEXT,
    community_code   TEXT NOT NULL,               -- schema 4: the point's community
    over_capacity_confirmed INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
-- the natural key (point, date, meal): not UNIQUE, because a second record for a slot
-- is a conflict to review (SPEC §6), never silently dropped
CREATE INDEX meal_count_slot ON meal_count (point_id, service_date, meal, deleted, hlc, device_id);
CREATE INDEX meal_count_date ON meal_count (service_date, deleted, total);

CREATE TABLE volunteer (
    id             TEXT PRIMARY KEY,
    version_id     TEXT NOT NULL,
    hlc            TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    deleted        INTEGER NOT NULL DEFAULT 0,
    name           TEXT NOT NULL,
    name_initials  TEXT NOT NULL DEFAULT '',
    phone          TEXT,
    platform_no    TEXT,
    community_code TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX volunteer_community ON volunteer (community_code, name);

CREATE TABLE volunteer_event (
    id             TEXT PRIMARY KEY,
    version_id     TEXT NOT NULL,
    hlc            TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    deleted        INTEGER NOT NULL DEFAULT 0,
    title          TEXT NOT NULL,
    event_date     TEXT NOT NULL,
    start_time     TEXT,
    end_time       TEXT,
    community_code TEXT NOT NULL,
    location       TEXT,
    organizer      TEXT,
    category       TEXT NOT NULL,
    beneficiaries  INTEGER,
    status         TEXT NOT NULL,
    participants   TEXT NOT NULL DEFAULT '[]',
    total_hours    REAL NOT NULL DEFAULT 0,   -- derived
    total_points   REAL NOT NULL DEFAULT 0    -- derived: Σ hours × category coefficient
) WITHOUT ROWID;
CREATE INDEX volunteer_event_date ON volunteer_event (event_date, community_code);

-- the participants of the winning event version (rewritten with the record)
CREATE TABLE volunteer_participant (
    event_id     TEXT NOT NULL,
    volunteer_id TEXT NOT NULL,
    hours        REAL NOT NULL,
    points       REAL NOT NULL,
    PRIMARY KEY (event_id, volunteer_id)
) WITHOUT ROWID;
CREATE INDEX volunteer_participant_volunteer ON volunteer_participant (volunteer_id);

-- ------------------------------------------------------------ reference data (from seed/)
CREATE TABLE ref_street (
    code    TEXT PRIMARY KEY,
    name_zh TEXT NOT NULL,
    name_en TEXT NOT NULL,
    kind    TEXT NOT NULL,
    source  TEXT
);

CREATE TABLE ref_community (
    code           TEXT PRIMARY KEY,
    street_code    TEXT NOT NULL REFERENCES ref_street (code),
    name_zh        TEXT NOT NULL,
    name_en        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    sample         INTEGER NOT NULL DEFAULT 0,   -- 1 = 示例: not a real community
    code_confirmed INTEGER NOT NULL DEFAULT 0,
    pop_60         INTEGER NOT NULL CHECK (pop_60 >= 0),
    pop_80         INTEGER NOT NULL CHECK (pop_80 >= 0 AND pop_80 <= pop_60),
    note           TEXT
);
CREATE INDEX ref_community_street ON ref_community (street_code);

-- every code list of SPEC §3 with labels; `extra` holds e.g. service items or coefficients
CREATE TABLE ref_catalogue (
    catalogue TEXT NOT NULL,
    code      TEXT NOT NULL,
    zh        TEXT NOT NULL,
    en        TEXT NOT NULL,
    sort      INTEGER NOT NULL,
    extra     TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (catalogue, code)
);

CREATE TABLE ref_retrofit_item (
    code      TEXT PRIMARY KEY,
    area      TEXT NOT NULL,
    name_zh   TEXT NOT NULL,
    name_en   TEXT NOT NULL,
    category  TEXT NOT NULL CHECK (category IN ('basic', 'optional')),
    confirmed INTEGER NOT NULL
);

CREATE TABLE ref_assessment_band (
    level     TEXT PRIMARY KEY,
    name_zh   TEXT NOT NULL,
    name_en   TEXT NOT NULL,
    min_total INTEGER NOT NULL,
    max_total INTEGER NOT NULL,
    confirmed INTEGER NOT NULL
);

CREATE TABLE ref_target (
    indicator  TEXT NOT NULL,
    year       INTEGER NOT NULL,
    value      REAL NOT NULL,
    comparison TEXT NOT NULL,
    unit       TEXT NOT NULL,
    kind       TEXT NOT NULL,
    name_zh    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    source     TEXT,
    PRIMARY KEY (indicator, year)
);

-- configurable rules (seed/rules.json), one JSON value per key
CREATE TABLE ref_rule (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- ------------------------------------------------------------ sync (schema version 2)
-- exports made on this device (SPEC §5): seq chain and the versions high-water mark
CREATE TABLE exports (
    bundle_id   TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL UNIQUE,
    period      TEXT NOT NULL,
    full        INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    versions    INTEGER NOT NULL,
    upto_seq    INTEGER NOT NULL,        -- versions.seq of the last version in the bundle
    counts      TEXT NOT NULL
);

-- bundles merged into this (district) database (SPEC §6 step 7)
CREATE TABLE bundles (
    bundle_id      TEXT PRIMARY KEY,
    device_id      TEXT NOT NULL,
    device_label   TEXT,
    worker         TEXT,
    community_code TEXT NOT NULL,
    period         TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    file_name      TEXT NOT NULL,
    file_sha256    TEXT NOT NULL,
    counts         TEXT NOT NULL,
    versions_new   INTEGER NOT NULL,
    versions_dup   INTEGER NOT NULL,
    rejected       INTEGER NOT NULL,
    merged_at      TEXT NOT NULL,
    app_version    TEXT             -- the manifest's app version (report: what each laptop runs)
);
CREATE INDEX bundles_device ON bundles (device_id, seq);

-- more than one head for a record: both versions kept, a person decides (SPEC §6 step 5)
CREATE TABLE conflicts (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    version_a   TEXT NOT NULL,           -- the pair, smaller version_id first
    version_b   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'auto_resolved', 'resolved')),
    created_at  TEXT NOT NULL,
    decided_by  TEXT,
    decided_at  TEXT,
    decision    TEXT,
    decision_version_id TEXT,            -- schema 4: the district version the decision made
    comment     TEXT,
    UNIQUE (record_id, version_a, version_b)
);
CREATE INDEX conflicts_status ON conflicts (status, kind);

-- natural-key collisions and possible duplicate persons: nothing merged or dropped automatically
CREATE TABLE review_items (
    id          INTEGER PRIMARY KEY,
    queue       TEXT NOT NULL CHECK (queue IN ('meal_slot', 'duplicate_person', 'community_change', 'transfer')),
    kind        TEXT NOT NULL,
    record_a    TEXT NOT NULL,           -- smaller record id first
    record_b    TEXT NOT NULL,
    natural_key TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'auto_resolved', 'resolved')),
    created_at  TEXT NOT NULL,
    decided_by  TEXT,
    decided_at  TEXT,
    decision    TEXT,
    decision_version_id TEXT,            -- schema 4: the district version the decision made
    comment     TEXT,
    UNIQUE (queue, record_a, record_b)
);
CREATE INDEX review_items_status ON review_items (status, queue);

-- versions refused by a merge with --skip-invalid, with the reason (SPEC §6 step 3)
CREATE TABLE rejected_versions (
    id         INTEGER PRIMARY KEY,
    bundle_id  TEXT NOT NULL,
    line_no    INTEGER NOT NULL,
    kind       TEXT,
    record_id  TEXT,
    version_id TEXT,
    reason     TEXT NOT NULL,
    raw        TEXT NOT NULL,
    UNIQUE (bundle_id, line_no)
);

-- versions whose hlc is more than a day ahead of the merge time (SPEC §6 step 7)
CREATE TABLE clock_flags (
    version_id TEXT PRIMARY KEY,
    device_id  TEXT NOT NULL,
    hlc        TEXT NOT NULL,
    bundle_id  TEXT NOT NULL,
    merged_at  TEXT NOT NULL,
    accepted_at TEXT,                    -- schema 4: the supervisor accepted the clock (SPEC §4 v2)
    accepted_by TEXT
);

-- one meal count per (point, date, meal) for the figures: while two records for one slot wait in
-- the review queue, the greatest (hlc, device_id, id) counts and the other does not (never summed
-- twice); once a reviewer has chosen, the count not chosen stops counting.
CREATE VIEW meal_count_effective AS
SELECT * FROM meal_count m
WHERE m.deleted = 0
  AND NOT EXISTS (
      SELECT 1 FROM review_items r
      WHERE r.queue = 'meal_slot' AND r.status = 'resolved' AND r.decision != m.id
        AND (r.record_a = m.id OR r.record_b = m.id)
  )
  AND NOT EXISTS (
      SELECT 1 FROM meal_count o
      WHERE o.point_id = m.point_id AND o.service_date = m.service_date AND o.meal = m.meal
        AND o.deleted = 0 AND (o.hlc, o.device_id, o.id) > (m.hlc, m.device_id, m.id)
        AND NOT EXISTS (
            SELECT 1 FROM review_items r
            WHERE r.queue = 'meal_slot' AND r.status = 'resolved' AND r.decision != o.id
              AND (r.record_a = o.id OR r.record_b = o.id)
        )
  );
CREATE INDEX review_items_b ON review_items (queue, record_b);

-- ------------------------------------------------------------ keys (schema version 3, docs/security.md)
-- this database's own keys: a device's Ed25519 signing key and the district's public key;
-- at the district, the secret for ID-number HMACs (the district's private key stays in its file)
CREATE TABLE device_keys (
    singleton            INTEGER PRIMARY KEY CHECK (singleton = 1),
    sign_private         TEXT,    -- device: base64 Ed25519 seed
    sign_public          TEXT,    -- device: base64 Ed25519 public key
    district_public      TEXT,    -- device: base64 X25519 public key of the district
    district_fingerprint TEXT,
    hmac_secret          TEXT,    -- district: base64, keys the HMAC of ID numbers
    district_device_id   TEXT,    -- schema 4: device: the district's device_id (its versions win ties)
    district_sign_public TEXT     -- schema 4: device: the district's Ed25519 key (return bundles)
);

-- devices whose signatures the district accepts (enrolled after checking the fingerprint)
CREATE TABLE enrolled_devices (
    device_id   TEXT PRIMARY KEY,
    public_key  TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    label       TEXT,
    enrolled_at TEXT NOT NULL,
    enrolled_by TEXT NOT NULL,
    revoked_at  TEXT,
    revoked_by  TEXT,
    communities TEXT NOT NULL DEFAULT '[]',        -- schema 4: JSON list of community codes (SPEC §4a)
    community_confirmed INTEGER NOT NULL DEFAULT 1 -- 0: migrated with no bundle to say: ask the supervisor
);

-- the district report as last computed, keyed by the state of the data it was computed from
-- (bundles merged and review decisions): the supervisor's dashboard opens on it at once
CREATE TABLE report_cache (
    year       INTEGER NOT NULL,
    month      INTEGER NOT NULL DEFAULT 0,
    lang       TEXT NOT NULL,
    data_state TEXT NOT NULL,
    built_at   TEXT NOT NULL,
    report     TEXT NOT NULL,
    PRIMARY KEY (year, month, lang)
);

-- ------------------------------------------------------------ roster imports (issue 17)
-- one row per first-day import of a register (elders, meal points, volunteers): who, when, which
-- file by its sha256 (never its name: a file name may hold personal data), and the row counts.
-- The records themselves are ordinary versions of this device.
CREATE TABLE roster_imports (
    import_id     TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('elder', 'meal_point', 'volunteer')),
    file_sha256   TEXT NOT NULL,
    imported_at   TEXT NOT NULL,
    imported_by   TEXT NOT NULL,
    device_id     TEXT NOT NULL,
    rows_read     INTEGER NOT NULL,
    rows_created  INTEGER NOT NULL,
    rows_existing INTEGER NOT NULL,
    rows_invalid  INTEGER NOT NULL,
    detail        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX roster_imports_file ON roster_imports (file_sha256);

-- ------------------------------------------------------------ schema version 4 (SPEC v2)
-- two different bundles with one (device, seq): a cloned key or a restored backup (issue 13)
CREATE TABLE bundle_clones (
    device_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    bundle_a  TEXT NOT NULL,
    bundle_b  TEXT NOT NULL,
    file_a    TEXT NOT NULL,
    file_b    TEXT NOT NULL,
    found_at  TEXT NOT NULL,
    status    TEXT NOT NULL DEFAULT 'open',
    PRIMARY KEY (device_id, seq, bundle_a, bundle_b)
);

-- bundles of a revoked device made before the theft, accepted one by one by the supervisor (§4a)
CREATE TABLE accepted_bundles (
    file_sha256 TEXT PRIMARY KEY,
    device_id   TEXT NOT NULL,
    accepted_by TEXT NOT NULL,
    accepted_at TEXT NOT NULL,
    comment     TEXT
);

-- small facts about the file itself (the last quick_check's size, mtime, change counter)
CREATE TABLE db_state (
    key   TEXT PRIMARY KEY,
    value TEXT
);

-- ------------------------------------------------------------ analytics (schema version 4, issue 21)
-- the district's secret for the pseudonyms of the de-identified analytics export: separate from
-- device_keys.hmac_secret (duplicate detection), so the two cannot be matched
CREATE TABLE analytics_secret (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- ------------------------------------------------------------ return bundles (schema version 5, SPEC §5b)
-- at the district: every return bundle written, per community (its seq and file)
CREATE TABLE return_bundles (
    bundle_id      TEXT PRIMARY KEY,
    community_code TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    file_name      TEXT NOT NULL,
    file_sha256    TEXT NOT NULL,
    versions       INTEGER NOT NULL,
    devices        INTEGER NOT NULL,
    UNIQUE (community_code, seq)
);

-- on a device: every return bundle applied (a second import is "already applied"), with the acks
-- it carried (JSON [[first, last], …]: this device's bundles the district had merged); a
-- colleague's office-sync bundle too (source: that laptop's device_id, its seq, no acks)
CREATE TABLE applied_returns (
    bundle_id      TEXT PRIMARY KEY,
    source         TEXT NOT NULL DEFAULT 'district',
    community_code TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    file_sha256    TEXT NOT NULL,
    applied_at     TEXT NOT NULL,
    versions_new   INTEGER NOT NULL,
    acks           TEXT NOT NULL DEFAULT '[]'
);

-- at the district: the highest return bundle each laptop said (in its latest bundle) it applied
CREATE TABLE return_acks (
    device_id      TEXT NOT NULL,
    community_code TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    bundle_id      TEXT NOT NULL,            -- the laptop's bundle that said so
    PRIMARY KEY (device_id, community_code)
);
