-- project_work_counts.unfinished = the project's work_items in held, queued or running, kept by
-- these triggers in the same statement as the change, so a rollback takes both. Only entering
-- or leaving that set changes the count: a claim (queued -> running) or a retry (running ->
-- queued) does not.
INSERT INTO `project_work_counts` (`project_id`, `unfinished`)
SELECT `project_id`, COUNT(*) FROM `work_items`
WHERE `status` IN ('held', 'queued', 'running') GROUP BY `project_id`;
--> statement-breakpoint
CREATE TRIGGER `work_items_count_insert` AFTER INSERT ON `work_items`
WHEN new.status IN ('held', 'queued', 'running')
BEGIN
  INSERT INTO `project_work_counts` (`project_id`, `unfinished`) VALUES (new.project_id, 1)
  ON CONFLICT (`project_id`) DO UPDATE SET `unfinished` = `unfinished` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `work_items_count_finish` AFTER UPDATE OF `status` ON `work_items`
WHEN old.status IN ('held', 'queued', 'running') AND new.status NOT IN ('held', 'queued', 'running')
BEGIN
  UPDATE `project_work_counts` SET `unfinished` = `unfinished` - 1 WHERE `project_id` = old.project_id;
END;
--> statement-breakpoint
CREATE TRIGGER `work_items_count_reopen` AFTER UPDATE OF `status` ON `work_items`
WHEN old.status NOT IN ('held', 'queued', 'running') AND new.status IN ('held', 'queued', 'running')
BEGIN
  INSERT INTO `project_work_counts` (`project_id`, `unfinished`) VALUES (new.project_id, 1)
  ON CONFLICT (`project_id`) DO UPDATE SET `unfinished` = `unfinished` + 1;
END;
--> statement-breakpoint
CREATE TRIGGER `work_items_count_delete` AFTER DELETE ON `work_items`
WHEN old.status IN ('held', 'queued', 'running')
BEGIN
  UPDATE `project_work_counts` SET `unfinished` = `unfinished` - 1 WHERE `project_id` = old.project_id;
END;
