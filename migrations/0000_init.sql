CREATE TABLE `responses` (
	`id` text PRIMARY KEY NOT NULL,
	`project_id` text NOT NULL,
	`status` text NOT NULL,
	`model` text NOT NULL,
	`created_at` integer NOT NULL,
	`completed_at` integer,
	`background` integer DEFAULT false NOT NULL,
	`previous_response_id` text,
	`params` text NOT NULL,
	`metadata` text NOT NULL,
	`input_items` text NOT NULL,
	`output` text NOT NULL,
	`usage` text,
	`error` text,
	`incomplete_details` text
);
--> statement-breakpoint
CREATE INDEX `responses_project_created` ON `responses` (`project_id`,`created_at`,`id`);