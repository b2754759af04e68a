"""kubeward's peer port scanner (runs on a node as `python3 -c`, stdlib only).

argv: TIMEOUT ADDRESS:PORT... Connects to every target at once (as many at a time as the open-files
limit allows, raised to its hard limit) and prints "ADDRESS PORT open|closed|filtered" for each.
"""

import asyncio
import resource
import sys


async def probe(sem: asyncio.Semaphore, address: str, port: int, timeout: float) -> str:
    async with sem:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
            writer.close()
            return "open"
        except ConnectionRefusedError:
            return "closed"
        except Exception:
            return "filtered"


async def scan(timeout: float, targets: list[str], limit: int) -> None:
    sem = asyncio.Semaphore(max(32, min(2048, limit - 64)))
    pairs = [t.rsplit(":", 1) for t in targets]
    results = await asyncio.gather(*(probe(sem, a, int(p), timeout) for a, p in pairs))
    for i, (a, p) in enumerate(pairs):
        print(a, p, results[i])


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    except Exception:
        pass
    asyncio.run(scan(float(sys.argv[1]), sys.argv[2:], soft))


if __name__ == "__main__":
    main()
