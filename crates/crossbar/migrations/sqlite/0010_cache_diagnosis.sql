-- Anthropic's own reason for a prompt-cache miss (cache-diagnostics beta), next to crossbar's
-- verdict: `<type>[:<cache_missed_input_tokens>]` or `none`; NULL when not asked for
-- (usage::cache_diagnostics).
ALTER TABLE usage ADD COLUMN cache_diagnosis TEXT;
