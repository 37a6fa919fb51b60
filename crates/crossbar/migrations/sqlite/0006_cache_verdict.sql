-- The prompt-cache verdict of a conversation's turn (usage::cache_verdict): `hit`, `partial`,
-- `miss:<reason>[:<where>]` or `unknown`; NULL for requests outside a conversation or failed.
ALTER TABLE usage ADD COLUMN cache_verdict TEXT;
