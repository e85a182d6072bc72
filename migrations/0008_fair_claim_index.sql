DROP INDEX `work_items_claim`;--> statement-breakpoint
CREATE INDEX `work_items_claim_by_project` ON `work_items` (`status`,`backend`,`lane`,`project_id`,`owner_key`,`id`);