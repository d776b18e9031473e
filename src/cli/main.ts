// The composition root's front door: argv parsing (commander) and exit codes. Each command lives in its own file.
import { Command, Option } from 'commander';
import { mountCommand, type MountCommandOptions } from './mount-command';
import type { ServeOptions } from './serve-command';
import { flushCommand, freeCommand, pinCommand, statusCommand, unpinCommand } from './control-client';
import type { DoctorOptions } from './doctor-command';
import { unmountCommand } from './unmount-command';
import { MOUNT_OPTIONS, SETTING_KEYS } from './options-table';
import { EXIT, UsageError } from './usage-error';
import { errorMessage } from '../shared/errors';

const MOUNT_HELP_FOOTER = `
Every option is also -o NAME[=VALUE], a config-file key and an SPFS_* variable; precedence:
flags > -o > SPFS_* environment > profile ($XDG_CONFIG_HOME/spfs/config.json) > defaults.
Passwords: --password-env VAR, --credentials-file FILE (mode 0600) or a prompt; never an option value.
See docs/CONFIGURATION.md.

Examples:
  spfs mount https://sp.example.com/sites/team ~/Team --user alice
  spfs mount work ~/Work                      # the profile "work" of the config file
  spfs mount https://sp.example.com ~/SP -o ro,uid=1000,gid=1000,umask=027,cache_size=20G,credentials_file=~/.sp.cred
`;

/** `spfs mount`'s options from the one table (options-table.ts); no defaults here: the merge applies them. */
function addTableOptions(cmd: Command): void {
  for (const key of SETTING_KEYS) {
    const spec = MOUNT_OPTIONS[key];
    const flag = spec.arg !== undefined ? `${spec.flag} <${spec.arg.toLowerCase()}>` : spec.flag;
    cmd.addOption(new Option(flag, `${spec.help} [-o ${spec.oName}, ${spec.env}]`));
  }
}

function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('spfs')
    .description('Mount a SharePoint document library (MS-FILESYNC) as a local folder')
    .version('0.1.0')
    .showHelpAfterError();

  const mount = program
    .command('mount')
    .description(
      'mount the library at SOURCE (a server, site or library URL, or a profile of the config file) on the empty folder DIR',
    )
    .argument('<source>', 'an http(s) URL (e.g. the first line printed by `spfs serve`) or a profile name')
    .argument('<dir>', 'an existing empty folder');
  addTableOptions(mount);
  mount
    .option(
      '-o, --options <list>',
      'comma-separated NAME[=VALUE] as sshfs and mount(8) take them (ro,uid=1000,cache_size=20G); repeatable',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .addOption(new Option('--notify-fd <fd>').hideHelp())
    .addOption(new Option('--password-fd <fd>').hideHelp())
    .addHelpText('after', MOUNT_HELP_FOOTER)
    .action(async (source: string, dir: string, o: MountCommandOptions) =>
      setExit(await mountCommand(source, dir, o)),
    );

  program
    .command('unmount')
    .alias('umount')
    .description('detach the mount at DIR and stop its daemon')
    .argument('<dir>')
    .option('--force', 'detach without waiting for pending uploads (they are kept for the next mount)')
    .action(async (dir: string, o: { force?: boolean }) =>
      setExit(await unmountCommand(dir, o.force === true)),
    );

  program
    .command('status')
    .description(
      'every spfs mount of this user, one line each (stale ones with the command that fixes them), or with DIR ' +
        'the details: server online/offline, cache, pins, pending uploads and why, last sync, quota',
    )
    .argument('[dir]', 'a mountpoint')
    .option('--json', 'machine-readable output (schema: docs/STATUS.md)')
    .addHelpText('after', '\nExamples:\n  spfs status\n  spfs status ~/Work --json')
    .action(async (dir: string | undefined, o: { json?: boolean }) =>
      setExit(await statusCommand(dir, o.json === true)),
    );

  program
    .command('doctor')
    .description(
      'check what mounting needs (FUSE, fusermount, the libfuse3 adapter, stale mounts) and, given a URL or a ' +
        'mountpoint, the server, the credentials and the cache disk; prints the fix of each failure',
    )
    .argument('[target]', 'a library URL or a mountpoint')
    .option('--user <name>', 'user name to check the credentials with')
    .option('--password-env <var>', 'read the password from this environment variable (otherwise prompt)')
    .option('--auth <scheme>', 'basic, bearer, ntlm or cookie (default: implied by the other options)')
    .option('--credentials-file <file>', 'user=/password= lines; refused unless mode 0600')
    .option('--token-file <file>', 'bearer token')
    .option('--token-command <cmd>', 'prints a bearer token on stdout')
    .option('--cookie-file <file>', 'FedAuth/rtFa cookies')
    .option('--ca <file>', 'PEM of an extra trusted certificate authority')
    .option('--insecure', 'do not verify TLS certificates')
    .option('--cache-dir <dir>', 'the cache folder to check the disk of (default: as spfs mount)')
    .option('--cache-size <size>', 'the cache bound to check the free space against (default 10G)')
    .addHelpText(
      'after',
      '\nExit 0 when every check passed (warnings pass), 1 otherwise.\nExamples:\n  spfs doctor\n' +
        '  spfs doctor https://contoso.sharepoint.com/sites/team --user alice\n  spfs doctor ~/Work',
    )
    .action(async (target: string | undefined, o: DoctorOptions) =>
      setExit(await (await import('./doctor-command')).doctorCommand(target, o)),
    );

  program
    .command('flush')
    .description('wait until the named files (or everything) are on the server')
    .argument('[paths...]')
    .action(async (paths: string[]) => setExit(await flushCommand(paths)));

  program
    .command('pin')
    .description('keep files on this device: download them now and never evict them (folders: recursive)')
    .argument('<paths...>', 'files or folders inside a mount')
    .option('--no-wait', 'return once pinned; the download goes on in the background')
    .addHelpText(
      'after',
      '\nNew files in a pinned folder are pinned too; a pinned file changed on the server is downloaded again.\n' +
        'Example:\n  spfs pin ~/SharePoint/Projects/2026   # waits, showing files, bytes, rate and time left',
    )
    .action(async (paths: string[], o: { wait: boolean }) => setExit(await pinCommand(paths, !o.wait)));

  program
    .command('unpin')
    .description('stop keeping files on this device: their content stays cached but may be evicted')
    .argument('<paths...>', 'files or folders inside a mount')
    .addHelpText('after', '\nExample:\n  spfs unpin ~/SharePoint/Projects/2026')
    .action(async (paths: string[]) => setExit(await unpinCommand(paths)));

  program
    .command('free')
    .description(
      'free up space: drop the cached content of files (folders: recursive) that is uploaded and not open',
    )
    .argument('<paths...>', 'files or folders inside a mount')
    .option('--unpin', 'also unpin pinned paths and free them (otherwise they are kept)')
    .addHelpText(
      'after',
      '\nFiles with changes not uploaded yet, and open files, are always kept. Example:\n' +
        '  spfs free ~/SharePoint/Archive          # prints what was freed and what was kept, and why',
    )
    .action(async (paths: string[], o: { unpin?: boolean }) =>
      setExit(await freeCommand(paths, o.unpin === true)),
    );

  program
    .command('serve')
    .description('run the reference SPFileSync server; prints the site URL to mount on its first line')
    .requiredOption('--data <dir>', 'where the server keeps its database and content')
    .option('--seed <dir>', 'on first start, import this local folder as the library')
    .option(
      '--generate <spec>',
      'on first start, generate a synthetic library FOLDERS,FILES,SIZE[,SEED] (SIZE: 4K, 1M, or MIN-MAX)',
    )
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free port)', '0')
    .option('--user <name>', 'the user allowed to sign in (HTTP Basic)', 'spfs')
    .option('--password-env <var>', "environment variable holding that user's password")
    .option(
      '--config <file>',
      'JSON file of users, passwords, tokens and team sites (mode 600); replaces --user',
    )
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate (with --tls-key)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--request-log <file>', 'append one JSON line per request to this file')
    .option('--log-level <level>', 'server log level on stderr', 'warn')
    .option('--download-rate-mibps <n>', 'fault injection: cap every download at N MiB/s')
    .option(
      '--fault <spec>',
      'fault injection rule kind[:key=value,...] (repeatable; see docs/SERVER.md)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--space-granted <size>', 'quota SpaceGranted of every library, e.g. 10G (default 100G)')
    .option('--max-file-size <size>', 'policy MaxFileSize: larger uploads are refused (default 15G)')
    .option('--inline-threshold <size>', 'policy InlineUploadThreshold: BITS from this size (default 8M)')
    .option('--blocked-extensions <list>', 'policy BlockedFileExtensions, e.g. .exe,.pst')
    .option('--retention-days <n>', 'change-log retention; older sync tokens get ResyncNeeded (default 60)')
    .option('--upload-idle-minutes <n>', 'BITS sessions idle this long are dropped (default 1440)')
    .option('--item-count <n>', 'policy ItemCount: default change page size, 1-1000 (default 500)')
    .option('--resync-action <action>', 'ResyncAction sent with ResyncNeeded (default ResetReupload)')
    .option('--mark-restored', 'as after restoring --data from a backup: every client must resync')
    .option('--admin', 'enable the loopback-only admin endpoint /_spfs/admin (faults, remote changes)')
    .option(
      '--admin-token-env <var>',
      'environment variable holding the admin token (else one is generated and printed)',
    )
    // Loaded on use: every mount (and its daemon) starts faster without the reference server's modules.
    .action(async (o: ServeOptions) => setExit(await (await import('./serve-command')).serveCommand(o)));

  program
    .command('sample-library')
    .description('write the demo sample library into DIR (used by the demo and the tests)')
    .argument('<dir>')
    .option('--big-mib <n>', 'size of the large file in MiB', '256')
    .action(async (dir: string, o: { bigMib: string }) => {
      const { createSampleLibrary } = await import('./sample-library');
      const files = await createSampleLibrary(dir, { bigMib: Number(o.bigMib) });
      process.stdout.write(`${files.length} files written to ${dir}\n`);
      setExit(EXIT.ok);
    });
  return program;
}

export async function main(argv: string[]): Promise<void> {
  let code: number = EXIT.ok;
  // `spfs status | head -2`: a reader that went away ends the output, not the process with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(code);
  });
  try {
    await buildProgram((c) => (code = c)).parseAsync(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`spfs: ${err.message}\n`);
      code = err.exitCode;
    } else {
      process.stderr.write(`spfs: ${errorMessage(err)}\n`);
      code = EXIT.failure;
    }
  }
  process.exitCode = code;
}
