export async function main(argv0: string, args: string[]): Promise<number> {
  process.stderr.write(`${argv0}: ${args.join(' ')}: not yet available\n`);
  return 69;
}
