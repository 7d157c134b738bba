import sys

from .cli import main

# Guarded: vLLM's engine (--backend vllm) starts child processes that import this module again.
if __name__ == "__main__":
    sys.exit(main())
