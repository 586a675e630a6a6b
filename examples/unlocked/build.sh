docker build -t example/app-base:cpu -f docker/base/Dockerfile .
docker build -t example/app-ml:cpu -f docker/ml/Dockerfile .
docker build -t example/app-api:cpu -f docker/api/Dockerfile .
