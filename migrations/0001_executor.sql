CREATE TABLE `response_events` (
	`response_id` text NOT NULL,
	`sequence_number` integer NOT NULL,
	`event` text NOT NULL,
	PRIMARY KEY(`response_id`, `sequence_number`),
	FOREIGN KEY (`response_id`) REFERENCES `responses`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `work_items` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`subject_id` text NOT NULL,
	`project_id` text NOT NULL,
	`lane` integer NOT NULL,
	`owner_key` text NOT NULL,
	`backend` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`not_before_ms` integer DEFAULT 0 NOT NULL,
	`lease_owner` text,
	`lease_expires_at_ms` integer,
	`payload` text NOT NULL,
	`last_error` text,
	`created_at_ms` integer NOT NULL,
	`finished_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `work_items_claim` ON `work_items` (`status`,`backend`,`lane`,`owner_key`,`id`);--> statement-breakpoint
CREATE INDEX `work_items_lease` ON `work_items` (`status`,`lease_expires_at_ms`);--> statement-breakpoint
CREATE INDEX `work_items_subject` ON `work_items` (`subject_id`);--> statement-breakpoint
ALTER TABLE `responses` ADD `streamed` integer DEFAULT false NOT NULL;