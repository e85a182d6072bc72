CREATE TABLE `futures` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`endpoint` text NOT NULL,
	`status` text NOT NULL,
	`request` text NOT NULL,
	`result_status_code` integer,
	`result_body` text,
	`error` text,
	`created_at` integer NOT NULL,
	`completed_at` integer,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `futures_expires_at` ON `futures` (`expires_at`);