/** Short prompts the benches send, so the mock does not answer one repeated input only. */
export const QUESTIONS: readonly string[] = [
  "What is the capital of France?",
  "How do I reverse a list in Python?",
  "Explain HTTP keep-alive in one sentence.",
  "Give me three tips for writing clear commit messages.",
  "Why is the sky blue?",
  "What does a database index speed up?",
  "Suggest a name for a small ferry company.",
  "How long should I boil an egg?",
];

/** Topics for a batch line's "In one sentence: <topic>? (#n)", so no two lines are the same. */
export const TOPICS: readonly string[] = [
  "the capital of France",
  "reversing a list in Python",
  "HTTP keep-alive",
  "clear commit messages",
  "why the sky is blue",
  "what a database index speeds up",
  "a name for a small ferry company",
  "how long to boil an egg",
];
