//! `/api/v1/files`: resumable uploads of encrypted files, their state, ranged downloads and
//! deletion. Upload and download bodies are streamed, never held in memory whole.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zynk_proto::files::{CreateFileRequest, FileInfo, UPLOAD_CONTENT_TYPE, UPLOAD_OFFSET_HEADER};
use zynk_proto::{ErrorBody, ErrorCode, FileId};

use super::extract::{ApiJson, Caller, parse_id};
use crate::error::ApiError;
use crate::state::AppState;

fn with_offset(info: FileInfo, status: StatusCode) -> Response {
    let offset = HeaderValue::from(info.offset);
    let mut response = (status, Json(info)).into_response();
    response.headers_mut().insert(UPLOAD_OFFSET_HEADER, offset);
    response
}

/// `POST /api/v1/files`: starts the upload of an encrypted file to a conversation the caller
/// participates in (201, with `Upload-Offset: 0`).
#[utoipa::path(post, path = "/api/v1/files", tag = "files", security(("bearer" = [])),
    request_body = CreateFileRequest,
    responses((status = 201, description = "Upload started", body = FileInfo,
                headers(("Upload-Offset" = u64, description = "Bytes stored: 0"))),
              (status = 400, description = "A field is malformed (invalid_field)", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "recipient_not_accepting or forbidden: the caller may not send into this 1:1 conversation (as for messages)", body = ErrorBody),
              (status = 404, description = "No such conversation of the caller", body = ErrorBody),
              (status = 413, description = "file_too_large or quota_exceeded", body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<CreateFileRequest>,
) -> Result<Response, ApiError> {
    let info = state
        .services
        .files
        .create(&caller, &body, &state.services.contacts)
        .await?;
    Ok(with_offset(info, StatusCode::CREATED))
}

/// `GET /api/v1/files/{file_id}`: the file's state (`offset` is where an upload continues).
#[utoipa::path(get, path = "/api/v1/files/{file_id}", tag = "files", security(("bearer" = [])),
    params(("file_id" = inline(FileId), Path, description = "File")),
    responses((status = 200, body = FileInfo, headers(("Upload-Offset" = u64, description = "Bytes stored"))),
              (status = 401, body = ErrorBody),
              (status = 404, description = "No such file, or the caller does not participate in its conversation", body = ErrorBody),
              (status = 410, description = "Expired or deleted (file_gone)", body = ErrorBody)))]
pub async fn file_info(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(file_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&file_id, "file")?;
    let info = state.services.files.info(&caller, id).await?;
    Ok(with_offset(info, StatusCode::OK))
}

/// `DELETE /api/v1/files/{file_id}`: the uploader deletes the file (soft delete: it is gone for
/// everyone at once; the cleanup job removes its bytes).
#[utoipa::path(delete, path = "/api/v1/files/{file_id}", tag = "files", security(("bearer" = [])),
    params(("file_id" = inline(FileId), Path, description = "File")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody),
              (status = 403, description = "A participant who is not the uploader", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn delete_file(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(file_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&file_id, "file")?;
    state.services.files.delete(&caller, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /api/v1/files/{file_id}/upload`: appends the body (`Content-Type:
/// application/offset+octet-stream`) at `Upload-Offset`, which must equal the server's offset.
/// Whole parts of `part_size` are stored; trailing bytes short of a part are not, unless they
/// end the file. The answer's `offset` (and `Upload-Offset` header) is where to continue; when
/// the last byte arrives the size and SHA-256 are checked and the file completes.
#[utoipa::path(patch, path = "/api/v1/files/{file_id}/upload", tag = "files", security(("bearer" = [])),
    params(("file_id" = inline(FileId), Path, description = "File"),
           ("Upload-Offset" = u64, Header, description = "Where the body's bytes start")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream", description = "Ciphertext bytes"),
    responses((status = 200, description = "Stored; `offset` is where to continue", body = FileInfo,
                headers(("Upload-Offset" = u64, description = "Bytes stored"))),
              (status = 400, description = "Missing or malformed Upload-Offset (invalid_field), or bytes past the declared size (upload_exceeds_size)", body = ErrorBody),
              (status = 401, body = ErrorBody),
              (status = 403, description = "Not the uploader", body = ErrorBody),
              (status = 404, body = ErrorBody),
              (status = 409, description = "upload_offset_mismatch or upload_complete", body = ErrorBody),
              (status = 410, body = ErrorBody),
              (status = 415, description = "Not application/offset+octet-stream", body = ErrorBody),
              (status = 422, description = "The bytes do not have the declared SHA-256; the upload was discarded (file_hash_mismatch)", body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(file_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&file_id, "file")?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if media.as_deref() != Some(UPLOAD_CONTENT_TYPE) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("an upload body must be `{UPLOAD_CONTENT_TYPE}`"),
        ));
    }
    let offset: u64 = headers
        .get(UPLOAD_OFFSET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::invalid_field("Upload-Offset", "must be given as a byte offset")
        })?;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let info = state
        .services
        .files
        .append(&caller, id, offset, length, body.into_data_stream())
        .await?;
    Ok(with_offset(info, StatusCode::OK))
}

/// `GET /api/v1/files/{file_id}/content`: the ciphertext, streamed; one `Range: bytes=…` gives
/// 206 with `Content-Range`.
#[utoipa::path(get, path = "/api/v1/files/{file_id}/content", tag = "files", security(("bearer" = [])),
    params(("file_id" = inline(FileId), Path, description = "File"),
           ("Range" = Option<String>, Header, description = "One range: bytes=A-B, bytes=A- or bytes=-N")),
    responses((status = 200, description = "The whole ciphertext", content_type = "application/octet-stream", body = Vec<u8>),
              (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401, body = ErrorBody),
              (status = 404, description = "No such file, or the caller does not participate in its conversation", body = ErrorBody),
              (status = 409, description = "The upload has not completed (file_not_ready)", body = ErrorBody),
              (status = 410, description = "Expired or deleted (file_gone)", body = ErrorBody),
              (status = 416, description = "Malformed or unsatisfiable range", body = ErrorBody),
              (status = 503, body = ErrorBody)))]
pub async fn download(
    State(state): State<AppState>,
    Caller(caller): Caller,
    Path(file_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = parse_id(&file_id, "file")?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let download = state.services.files.download(&caller, id, range).await?;
    let length = download.range.end - download.range.start;
    let mut response = Response::new(Body::from_stream(download.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", download.file.sha256)) {
        headers.insert(header::ETAG, etag);
    }
    if download.partial {
        let value = format!(
            "bytes {}-{}/{}",
            download.range.start,
            download.range.end - 1,
            download.file.size
        );
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(header::CONTENT_RANGE, value);
        }
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    Ok(response)
}
