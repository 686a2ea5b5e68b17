/**
 * -O / -o settings against the configuration's option table, at the moment
 * sendmail checks them: while the command line is read, before any file.
 */
import { ConfigError, parseOptionArgument, setOption, type CommandLineOption } from '../config/index.js';
import { newConfig } from '../config/defaults.js';
import type { OptionSetting } from './cmdline/invocation.js';
import type { OptionChecker } from './cmdline/parse.js';

export function toCommandLineOption(setting: OptionSetting): CommandLineOption {
  return setting.letter === ' '
    ? parseOptionArgument('O', setting.text)
    : { name: setting.letter, value: setting.text, form: 'letter' };
}

export function commandLineOptions(settings: readonly OptionSetting[]): CommandLineOption[] {
  return settings.map(toCommandLineOption);
}

export const checkOptionSetting: OptionChecker = (setting) => {
  const option = toCommandLineOption(setting);
  try {
    return { notices: setOption(newConfig('(command line)'), option.name, option.value) };
  } catch (e) {
    if (e instanceof ConfigError) return { notices: [], error: e };
    throw e;
  }
};
