-- Where files attach: a content asset's file (besides its URL), a video
-- lesson's media, a course's thumbnail. The file's `attached_to` names the
-- same resource (a file attaches to one resource at a time).
ALTER TABLE content_assets ADD COLUMN file_id uuid REFERENCES files(id);
ALTER TABLE lessons ADD COLUMN media_file_id uuid REFERENCES files(id);
ALTER TABLE courses ADD COLUMN thumbnail_file_id uuid REFERENCES files(id);
CREATE INDEX content_assets_file_idx ON content_assets (file_id) WHERE file_id IS NOT NULL;
CREATE INDEX lessons_media_file_idx ON lessons (media_file_id) WHERE media_file_id IS NOT NULL;
CREATE INDEX courses_thumbnail_file_idx ON courses (thumbnail_file_id) WHERE thumbnail_file_id IS NOT NULL;
