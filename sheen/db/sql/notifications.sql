-- Trust & safety notifications and appeal tickets (sheen/notifications).

-- name: insert_counted
-- A notification that counts against the 12-hour limit. Where the exclusion constraint
-- exists a conflicting row makes this a no-op (no row returned); where it does not, the
-- insert trigger turns the row into suppressed / rate_limited (status returned).
INSERT INTO trust_safety_notifications (user_id, category, locale, params, status, request_key)
VALUES (:user_id, :category, :locale, CAST(:params AS jsonb), 'pending', :request_key)
ON CONFLICT DO NOTHING
RETURNING id, status, suppressed_reason, created_at

-- name: insert_suppressed
-- A request recorded without being sent: rate_limited, or kill_switch.
INSERT INTO trust_safety_notifications
    (user_id, category, locale, params, status, suppressed_reason, request_key)
VALUES (:user_id, :category, :locale, CAST(:params AS jsonb), 'suppressed', :reason, :request_key)
RETURNING id, status, suppressed_reason, created_at

-- name: by_request_key
-- A redelivered request finds the row its first delivery recorded.
SELECT id, status, suppressed_reason, created_at FROM trust_safety_notifications
WHERE request_key = :request_key

-- name: lock_for_send
-- The row and the recipient, locked for the send: a concurrent copy waits, then sees `sent`.
SELECT n.id, n.user_id, n.category, n.locale, n.params, n.status, n.created_at, n.attempts,
       u.email
FROM trust_safety_notifications n JOIN auth.users u ON u.id = n.user_id
WHERE n.id = :id
FOR UPDATE OF n

-- name: mark_sent
UPDATE trust_safety_notifications SET status = 'sent', sent_at = now(), attempts = attempts + 1
WHERE id = :id AND status = 'pending'

-- name: count_attempt
-- A failed send attempt (committed on its own: the retry that follows sees the count).
UPDATE trust_safety_notifications SET attempts = attempts + 1, failure_reason = :reason
WHERE id = :id AND status = 'pending'

-- name: mark_failed
-- A permanent failure: no address, or the recipient refused. The row stops counting.
UPDATE trust_safety_notifications
SET status = 'failed', failure_reason = :reason, attempts = attempts + 1
WHERE id = :id AND status = 'pending'

-- name: notification
SELECT id, user_id, category, locale, params, status, suppressed_reason, failure_reason,
       attempts, created_at, sent_at, read_at
FROM trust_safety_notifications WHERE id = :id

-- name: user_notifications
-- A user's notifications, newest first (ix_tsn_user_status_created).
SELECT id, user_id, category, locale, params, status, suppressed_reason, failure_reason,
       attempts, created_at, sent_at, read_at
FROM trust_safety_notifications WHERE user_id = :user_id
ORDER BY created_at DESC, id DESC
LIMIT :limit

-- name: insert_ticket
-- One ticket per notification: a second appeal of it returns nothing (the first stands).
INSERT INTO appeal_tickets (notification_id, user_message, context)
VALUES (:notification_id, :user_message, CAST(:context AS jsonb))
ON CONFLICT (notification_id) DO NOTHING
RETURNING id, created_at

-- name: ticket_for_notification
SELECT t.id, t.notification_id, t.user_message, t.context, t.status, t.forwarded_at,
       t.created_at, n.user_id
FROM appeal_tickets t JOIN trust_safety_notifications n ON n.id = t.notification_id
WHERE t.notification_id = :notification_id

-- name: mark_forwarded
UPDATE appeal_tickets SET forwarded_at = now() WHERE id = :id AND forwarded_at IS NULL

-- name: appeals
-- Tickets by status (all when :status is NULL), newest first.
SELECT t.id, t.notification_id, n.user_id, n.category, t.status, t.context, t.forwarded_at,
       t.created_at, t.updated_at
FROM appeal_tickets t JOIN trust_safety_notifications n ON n.id = t.notification_id
WHERE CAST(:status AS text) IS NULL OR t.status = :status
ORDER BY t.created_at DESC, t.id DESC
LIMIT :limit

-- name: user_email
SELECT email FROM auth.users WHERE id = :user_id

-- name: suppress_pending
-- The kill switch turned off after the record: the pending row is suppressed, never sent.
UPDATE trust_safety_notifications SET status = 'suppressed', suppressed_reason = 'kill_switch'
WHERE id = :id AND status = 'pending'
