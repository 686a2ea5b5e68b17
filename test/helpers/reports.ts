/**
 * Reading what the tests' scripts print: the messages of an mbox file, the
 * transcript part of a delivery report (sendmail's "Transcript of session
 * follows"), and Postern's queue as print-queued.js lists it.
 */

/** The messages of an mbox file: each from its From_ line to the next. */
export function mboxMessages(text: string): string[] {
  return text.split(/^(?=From \S+ )/m).filter((m) => m.startsWith('From '));
}

/** The lines of a report's transcript part: after its heading, up to the blank line or MIME boundary that ends the part. */
export function transcriptOf(report: string): string[] {
  const start = report.indexOf('   ----- Transcript of session follows -----\n');
  if (start < 0) return [];
  const rest = report.slice(start).split('\n').slice(1);
  const end = rest.findIndex((l) => l === '' || l.startsWith('--'));
  return end < 0 ? rest : rest.slice(0, end);
}

export interface QueuedMessage {
  readonly sender: string;
  readonly recipients: string[];
  readonly message: string;
}

/** Postern's queue as print-queued.js prints it: an env= line, then a df= line, per message. */
export function posternQueued(stdout: string): QueuedMessage[] {
  const out: QueuedMessage[] = [];
  let envelope: { sender: string; recipients: Array<{ address: string }> } | undefined;
  for (const l of stdout.split('\n')) {
    if (l.startsWith('env=')) envelope = JSON.parse(Buffer.from(l.slice(4), 'base64').toString());
    if (l.startsWith('df=') && envelope !== undefined) {
      out.push({ sender: envelope.sender, recipients: envelope.recipients.map((r) => r.address), message: Buffer.from(l.slice(3), 'base64').toString('latin1') });
    }
  }
  return out;
}
