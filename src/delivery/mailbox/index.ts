/**
 * Local delivery into /var/mail/USER.  The broker calls deliverToMailbox();
 * the agent program (agent.c) appends as the recipient.
 */
export { deliverToMailbox, defaultAgentPath, mailboxNameProblem, spoolDirectoryProblem, type MailboxDelivery } from './deliver.js';
export { MailboxAgentPool, type AgentPoolOptions } from './agent-pool.js';
export type { MailboxUser } from './agent-protocol.js';
export { mboxPreamble, MboxBodyEncoder, encodeMbox, ctimeDate } from './mbox-format.js';
export type { DeliveryStatus, DeliveryOutcome } from './status.js';
