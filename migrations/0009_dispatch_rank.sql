DROP INDEX `work_items_claim_by_project`;--> statement-breakpoint
ALTER TABLE `work_items` ADD `dispatch_rank` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
CREATE INDEX `work_items_claim_by_project` ON `work_items` (`status`,`backend`,`lane`,`project_id`,`owner_key`,`dispatch_rank`,`id`);