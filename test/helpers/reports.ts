/**
 * Reading what the tests' mailboxes hold: the messages of an mbox file, and
 * the transcript part of a delivery report (sendmail's "Transcript of
 * session follows").
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
