/**
 * Local delivery into /var/mail/USER.  The broker calls deliverToMailbox();
 * the agent program (agent.ts) runs appendToMailbox() as the recipient.
 */
export { deliverToMailbox, DEFAULT_AGENT_PATH, spoolDirectoryProblem, type MailboxDelivery } from './deliver.js';
export { MailboxAgentPool, type AgentPoolOptions } from './agent-pool.js';
export { appendToMailbox, mailboxNameProblem, type AppendRequest, type MailboxUser } from './append.js';
export { mboxPreamble, MboxBodyEncoder, encodeMbox, ctimeDate } from './mbox-format.js';
export type { DeliveryStatus, DeliveryOutcome } from './status.js';
