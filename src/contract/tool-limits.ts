/**
 * The most tools one request may declare, as OpenAI allows (Responses and Chat alike). It also
 * bounds what a request costs the mock, which reads every tool's definition.
 */
export const MAX_TOOLS = 128;
